"""Evaluate the generator against its ablations and baselines: `python -m soundtrack evaluate`.

For the first `n` items of a split (default: 50 test items), one row per system of the
table in soundtrack/evaluation/systems.py:

- `full`: the whole pipeline as the studio runs it (soundtrack.pipeline.SoundtrackPipeline on
  the item's video.mp4): the SDMA model (`checkpoints/ldm`) with SNIO (`snio_iters`, default
  the studio's), the controls of the item's labels, seed `seed + i` for item i;
- `no_snio`: the same model, inputs and seeds with plain sampling (`snio_iters = 0`);
- `no_sdma`: the plain-attention ablation (`checkpoints/ldm-nosdma`) with SNIO, same inputs and seeds;
- `two_step`: the process the paper argues against: the music of `no_snio`, and effects
  generated afterwards by a separate run (another seed) that never saw that music;
- `retrieval`: the real stems of the nearest TRAINING clip by CVSM video embedding (cosine);
- `round_trip`: the real stems through VAE encode (posterior mode) -> decode -> vocoder, the
  floor the decoder puts under every generated row;
- `real`: the real stems themselves (the reference; its FADs are 0 by construction).

A row whose run directory is missing is skipped with a note. Every row is scored by
soundtrack/evaluation/metrics.py against the real stems of the same items: FAD (stats and
CVSM embeddings), stem leakage (soundtrack/evaluation/leakage.py; the `real` row is the
probe's own floor), effects sync F1, tempo accuracy, CVSM video-stem cosines, the
independent instrument judge (`inst_recall`, `inst_fpr`, and `kl_inst`: the KL of its
probabilities on the row's music from those on the real music, the KL of AudioLDM's tables
with the judge as the frozen classifier), `balance_db` (the raw stems' loudness difference,
before the mixer meets the slider exactly) and `beat_cut` (cuts with a music beat within
+-70 ms).

Each row also keeps its per-item values (`items`), and the ablations are read as paired
differences (soundtrack/evaluation/bootstrap.py): `paired` holds full − no_sdma (SDMA),
full − no_snio (SNIO) and no_snio − two_step (joint generation) for every metric with
per-item values, with the 95 % interval of a paired bootstrap over the items
(docs/DECISIONS.md #34). FAD, KL and beat-cut are set-level numbers and get no interval.

Plus CVSM retrieval (docs/method/cvsm.md eq. 8, 100 candidates) on the whole split, once.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shlex
import sys
import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from soundtrack.config import AUDIO, GenerationConfig
from soundtrack.errors import InputError
from soundtrack.evaluation.bootstrap import PAIRED, paired_differences
from soundtrack.evaluation.items import STEMS
from soundtrack.evaluation.leakage import LEAKAGE_L2, leakage_probe
from soundtrack.evaluation.metrics import judge_probs, row_metrics, stem_embeddings
from soundtrack.evaluation.report import (SECTION_MARKERS, markdown_table, results_section,
                                          write_results_section)
from soundtrack.evaluation.systems import SCORE_SYSTEMS, SYSTEMS, Generated, Run, System
from soundtrack.models.checkpoint import TRAIN_COMMAND, run_folder
from soundtrack.video.matrix import FEATURE_NAMES

# --option -> the stage of its run folder (soundtrack.models.checkpoint.FOLDERS); pass --ldm runs/ldm-small
# etc. for training runs
RUN_STAGES = {"vae": "vae", "vocoder": "vocoder", "cvsm": "cvsm", "ldm": "ldm", "ldm_nosdma": "ldm-nosdma",
              "score": "score", "score_nosdma": "score-nosdma", "instruments": "instruments",
              "judge": "instruments-judge"}
ENGINE_SYSTEMS = {"neural": SYSTEMS, "score": SCORE_SYSTEMS}  # --engine -> the table of rows
RETRIEVAL_CANDIDATES = 100


def default_runs(root: Path | str | None = None) -> dict[str, Path]:
    """The run folders of the bundled model (checkpoints/, or $SOUNDTRACK_CHECKPOINTS), by option."""
    return {key: run_folder(stage, root) for key, stage in RUN_STAGES.items()}


# ---------------------------------------------------------------------------------------- evaluate
class Loaded(NamedTuple):
    generators: dict  # run key of a diffusion model ("ldm", "ldm_nosdma") -> its soundtrack.pipeline.Models
    cvsm: torch.nn.Module
    vae: torch.nn.Module | None
    vocoder: torch.nn.Module | None
    judge: torch.nn.Module | None


def load_for(systems: list[System], run_dirs: dict[str, Path], have: dict[str, bool]) -> Loaded:
    """The models `systems` and the metrics use. The first generator is assembled by
    soundtrack.pipeline.load_models, the others by `Models.with_ldm` (their own diffusion model,
    the first one's codec and CVSM); the other rows and the metrics share that CVSM and decoder,
    or load them alone where no generator runs."""
    from soundtrack.models.cvsm import load_cvsm
    from soundtrack.models.instruments import load_instrument_judge
    from soundtrack.models.vae import load_vae
    from soundtrack.models.vocoder import load_vocoder
    from soundtrack.pipeline import load_models

    keys = list(dict.fromkeys(s.ldm for s in systems if isinstance(s, Generated)))
    generators = {}
    for k in keys:  # the first generator loads everything; the others only their diffusion model
        generators[k] = (next(iter(generators.values())).with_ldm(run_dirs[k]) if generators else
                         load_models(vae_run=run_dirs["vae"], vocoder_run=run_dirs["vocoder"],
                                     cvsm_run=run_dirs["cvsm"], ldm_run=run_dirs[k],
                                     instruments_run=run_dirs["instruments"] if have["instruments"] else None))
    judge = load_instrument_judge(run_dirs["judge"]) if have["judge"] else None
    if generators:
        first = next(iter(generators.values()))
        return Loaded(generators, first.cvsm, first.vae, first.vocoder, judge)

    def alone(load, key: str):
        return load(run_dirs[key]).eval().requires_grad_(False) if have[key] else None

    return Loaded(generators, cvsm=alone(load_cvsm, "cvsm"), vae=alone(load_vae, "vae"),
                  vocoder=alone(load_vocoder, "vocoder"), judge=judge)


def evaluate(*, corpus: Path | str, split: str = "test", n: int = 50, runs: dict | None = None,
             steps: int | None = None, guidance: float | None = None, snio_iters: int | None = None,
             seed: int = 0, engine: str = "neural", progress: bool = True) -> dict:
    """Rows of metrics for the first `n` items of `split` (module docstring); JSON-able.
    engine: "neural" (SYSTEMS) or "score" (SCORE_SYSTEMS: the score engine's ablations)."""
    from tqdm import tqdm

    from soundtrack.audio.mel import MelSpectrogram
    from soundtrack.corpus.cache import load_split
    from soundtrack.evaluation.retrieval import retrieval
    from soundtrack.pipeline import Settings
    from soundtrack.sampling.scores import mean_scores

    defaults = Settings()
    steps = defaults.steps if steps is None else steps
    guidance = defaults.guidance if guidance is None else guidance
    snio_iters = defaults.snio_iters if snio_iters is None else snio_iters
    t_start = time.perf_counter()
    # 1. Check inputs
    corpus = Path(corpus)
    if not (corpus / split).is_dir():
        raise InputError(f"no split {split!r} in {corpus}: build the corpus first "
                         f"(python -m soundtrack data build)")
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InputError(f"n must be a whole number >= 1, got {n!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be a whole number >= 1, got {steps!r}")
    if not math.isfinite(guidance) or guidance < 0:
        raise InputError(f"guidance must be a number >= 0, got {guidance!r}")
    if engine not in ENGINE_SYSTEMS:
        raise InputError(f"unknown engine {engine!r}; known: {', '.join(ENGINE_SYSTEMS)}")
    systems = ENGINE_SYSTEMS[engine]
    unknown = set(runs or {}) - set(RUN_STAGES)
    if unknown:
        raise InputError(f"unknown run name(s) {sorted(unknown)}; known: {', '.join(RUN_STAGES)}")
    run_dirs = {k: Path(v) for k, v in {**default_runs(), **(runs or {})}.items()}
    have = {k: (p / "model.safetensors").is_file() and (p / "config.json").is_file()
            for k, p in run_dirs.items()}
    if not have["cvsm"]:
        raise InputError(f"no CVSM in {run_dirs['cvsm']}: every row is scored with it "
                         f"({TRAIN_COMMAND} cvsm)")
    missing = {s.name: [str(run_dirs[k]) for k in s.needs if not have[k]] for s in systems}
    skipped = {name: f"skipped: no trained run in {', '.join(dirs)}"
               for name, dirs in missing.items() if dirs}
    running = [s for s in systems if s.name not in skipped]

    # 2. Data: the first n items, their real stems, and the models
    arrays = load_split(corpus, split, progress=progress)
    n = min(n, len(arrays))
    labels = arrays.labels[:n]
    models = load_for(running, run_dirs, have)
    cvsm, judge = models.cvsm, models.judge
    mel_fn = MelSpectrogram(AUDIO)
    with torch.no_grad():
        video_embed = torch.cat([cvsm.video(arrays.video[i:min(i + 16, n)].float(),
                                            arrays.thumbs[i:min(i + 16, n)]).embed
                                 for i in range(0, n, 16)])  # (n, D) unit vectors
    run = Run(corpus=corpus, items=[corpus / split / name for name in arrays.names[:n]], labels=labels,
              arrays=arrays, seed=seed, steps=steps, guidance=guidance, snio_iters=snio_iters,
              models=models.generators, cvsm=cvsm, vae=models.vae, vocoder=models.vocoder,
              video_embed=video_embed, progress=progress,
              waves={s.name: {stem: [] for stem in STEMS} for s in running})

    # 3. The leakage probe, on real train stems
    t0 = time.perf_counter()
    clf = leakage_probe(corpus, progress=progress)
    probe_s = time.perf_counter() - t0

    # 4. What a system needs before the items (the retrieval row: the nearest training clips)
    for system in running:
        system.prepare(run)

    # 5. Every system's stems, item by item
    seconds = {s.name: 0.0 for s in running}
    scores: dict[str, list] = {s.name: [] for s in running if isinstance(s, Generated)}
    for i in tqdm(range(n), desc="evaluate", unit="item", disable=not progress):
        for system in running:
            t0 = time.perf_counter()
            stems = system.stems(run, i)
            if stems.scores is not None:
                scores[system.name].append(stems.scores)
            seconds[system.name] += time.perf_counter() - t0
            for s, w in zip(STEMS, stems[:2]):
                run.waves[system.name][s].append(np.asarray(w, np.float32))

    # 6. Metrics, every row against the real stems of the same items
    t0 = time.perf_counter()
    motion = arrays.video[:n, :, FEATURE_NAMES.index("motion")].numpy()  # (n, 256) on the latent clock
    real_waves = {s: np.stack(run.waves["real"][s]) for s in STEMS}  # (n, T)
    real = stem_embeddings(real_waves, cvsm=cvsm, mel_fn=mel_fn)
    if judge is not None:
        real["judge"] = judge_probs(judge, mel_fn, real_waves["music"])
    rows: dict[str, dict] = {}
    for system in running:
        stacked = {s: np.stack(run.waves[system.name][s]) for s in STEMS}  # (n, T)
        rows[system.name] = {**row_metrics(stacked, real=real, labels=labels, video_embed=video_embed,
                                           cvsm=cvsm, mel_fn=mel_fn, clf=clf, judge=judge, motion=motion),
                             "s_per_item": seconds[system.name] / n}
    snio_scores = {row: {"output": mean_scores([sc["output"] for sc in v]),
                         "surrogate_before": mean_scores([sc["before_snio"] for sc in v]),
                         "surrogate_after": mean_scores([sc["after_snio"] for sc in v])}
                   for row, v in scores.items() if v}
    paired = {f"{a}-{b}": paired_differences(rows, a, b) for a, b, _ in PAIRED
              if a in rows and b in rows}
    metrics_s = time.perf_counter() - t0
    cvsm_retrieval = retrieval(cvsm, arrays, n_candidates=RETRIEVAL_CANDIDATES)

    return {
        "rows": rows,
        "paired": paired,
        "skipped": skipped,
        "control_scores": snio_scores,
        "labels": [{"tempo_bpm": lab["tempo_bpm"], "instruments": lab["instruments"], "events": lab["events"]}
                   for lab in labels],
        "cvsm_retrieval": {k: float(v) for k, v in cvsm_retrieval.items()},
        "leakage_classifier": {"kind": "logistic regression on stats embeddings (L-BFGS, L2 "
                                       f"{LEAKAGE_L2})", "n_train": clf.n_train,
                               "train_accuracy": clf.train_accuracy},
        "settings": {
            "date": datetime.datetime.now().isoformat(timespec="seconds"),
            "corpus": str(corpus), "split": split, "n": n, "steps": steps, "guidance": guidance, "seed": seed,
            "engine": engine,
            "snio_iters": snio_iters,
            "scheduler": GenerationConfig().sampler.scheduler,
            "runs": {k: str(v) for k, v in run_dirs.items()},
            "machine": platform.node(), "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__,
        },
        "timings": {"total_s": time.perf_counter() - t_start, "leakage_probe_s": probe_s,
                    "metrics_s": metrics_s, "generate_s": seconds},
    }


# --------------------------------------------------------------------------------------------- CLI
def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python -m soundtrack evaluate",
                                     description="score the generator, its ablation and two baselines")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--split", default="test")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the studio's)")
    parser.add_argument("--guidance", type=float, default=None, help="CFG scale (default: the studio's)")
    parser.add_argument("--snio-iters", type=int, default=None,
                        help="SNIO iterations of the rows that use it (default: the studio's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--engine", default="neural", choices=tuple(ENGINE_SYSTEMS),
                        help="whose ablations: neural (the audio model) or score (the notes model)")
    for key, default in default_runs().items():
        parser.add_argument(f"--{key.replace('_', '-')}", dest=key, type=Path, default=default,
                            help=f"run directory (default {default})")
    parser.add_argument("--json", type=Path, help="write the full result here")
    parser.add_argument("--results-md", type=Path, help="write/replace the evaluate section of this file")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    try:
        runs = {k: getattr(args, k) for k in RUN_STAGES}
        result = evaluate(corpus=args.corpus, split=args.split, n=args.n, steps=args.steps,
                          guidance=args.guidance, snio_iters=args.snio_iters, seed=args.seed, runs=runs,
                          engine=args.engine,
                          progress=not args.no_progress)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(markdown_table(result))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1))
    if args.results_md:
        command = shlex.join(["python", "-m", "soundtrack", "evaluate", *argv])
        begin, end = SECTION_MARKERS[args.engine]
        write_results_section(args.results_md, results_section(result, command=command), begin=begin, end=end)
    return 0


__all__ = ["RETRIEVAL_CANDIDATES", "RUN_STAGES", "Loaded", "default_runs", "evaluate", "load_for", "main"]

if __name__ == "__main__":
    sys.exit(main())
