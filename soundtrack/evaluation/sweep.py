"""Run a sweep of soundtrack/evaluation/sweeps/: `python -m soundtrack.evaluation.sweep NAME`.

    python -m soundtrack.evaluation.sweep guidance --n 30 --json runs/guidance_fad.json
    python -m soundtrack.evaluation.sweep snio_instrument_weight --tempos 3
    python -m soundtrack.evaluation.sweep sdma_strength --variants gamma=4,lam=0.9 gamma=0,lam=0.9

Loads the model once (the bundled one, or --checkpoints), gives each variant its own
pipeline under its GenerationConfig, runs the sweep's measurement (soundtrack/evaluation/
sweeps/__init__.py) and prints one JSON line per variant as it finishes: the sweep, the
variant, what it changes, and the measures. `--json` also writes them all in one file.

Options by measurement: the control sweeps take `--tempos` and `--videos` (as
`python -m soundtrack.evaluation.controls`, keeping its numbering of the requests), the
evaluation sweeps `--n` and `--corpus`; both take `--seed` (of the first request or item:
another seed is a held-out set of the same requests), `--variants` and `--checkpoints`.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np

from soundtrack.errors import InputError
from soundtrack.evaluation.sweeps import CONTROLS, Sweep, Variant, load_sweep


@contextlib.contextmanager
def sdma_strengths(ldm, changes: Mapping[str, float]) -> Iterator[None]:
    """The loaded diffusion model's SDMA strengths changed to `changes` while inside, restored after."""
    if not changes:
        yield
        return
    if not ldm.cfg.sdma:
        raise InputError("this variant changes SDMA's strengths, but the diffusion model has plain attention")
    trained = ldm.controller.params
    ldm.controller.params = dataclasses.replace(trained, **changes)
    try:
        yield
    finally:
        ldm.controller.params = trained


def run_controls(sweep: Sweep, variants: list[Variant], models, *, checkpoints: Path | None,
                 videos: list[str] | None, tempos: int, seed: int) -> Iterator[dict]:
    """Each variant's takes of the control requests, summarised (module docstring of sweeps/)."""
    from soundtrack.evaluation.controls import asset_videos, control_requests, measure_request, summarise
    from soundtrack.evaluation.metrics import load_judge
    from soundtrack.pipeline import SoundtrackPipeline

    keep = set(videos or sweep.videos)
    requests = [r for r in control_requests(asset_videos(), n_tempos=tempos, seed=seed)
                if not keep or r[0].name in keep]
    if not requests:
        raise InputError(f"no control request has a video named {', '.join(sorted(keep))}; the videos are "
                         f"{', '.join(v.name for v in asset_videos())}")
    judge = load_judge(checkpoints)
    events: dict[Path, list[float]] = {}
    for variant in variants:
        pipe = SoundtrackPipeline(models, variant.config)
        rows = []
        with sdma_strengths(models.ldm, variant.sdma):
            for request in requests:
                video = request[0]
                if video not in events:
                    events[video] = [e.time for e in pipe.plan(video).events]
                rows.append(measure_request(pipe, judge, request, events=events[video], **variant.settings))
        summary = {k: v for k, v in summarise(rows).items() if k != "scores"}
        yield {**summary, "silent_effects": sum(math.isinf(r["balance_err_db"]) for r in rows),
               "effects_onsets": sum(r["sync_est"] for r in rows)}


def run_evaluation(sweep: Sweep, variants: list[Variant], models, *, corpus: Path, n: int, seed: int,
                   progress: bool) -> Iterator[dict]:
    """Each variant's stems of the first n test clips, read by the evaluation's metrics."""
    from soundtrack.audio.embeddings import frechet_distance
    from soundtrack.audio.mel import MelSpectrogram
    from soundtrack.config import AUDIO
    from soundtrack.corpus.cache import load_split
    from soundtrack.evaluation.items import STEMS, read_stem, sample_items
    from soundtrack.evaluation.leakage import leakage_probe, stem_leakage
    from soundtrack.evaluation.metrics import stats_embeddings, stem_embeddings, sync_and_tempo
    from soundtrack.pipeline import SoundtrackPipeline

    if not (corpus / "test").is_dir():
        raise InputError(f"no split 'test' in {corpus}: build the corpus first "
                         f"(python -m soundtrack data build)")
    arrays = load_split(corpus, "test", progress=False)
    n = min(n, len(arrays))
    items, labels = [corpus / "test" / name for name in arrays.names[:n]], arrays.labels[:n]
    mel_fn = MelSpectrogram(AUDIO)
    real = clf = None
    if "fad" in sweep.metrics:
        real_waves = {s: np.stack([read_stem(item, s) for item in items]) for s in STEMS}
        real = stem_embeddings(real_waves, cvsm=models.cvsm, mel_fn=mel_fn)
    if "leakage" in sweep.metrics:
        clf = leakage_probe(corpus, progress=progress)
    for variant in variants:
        pipe = SoundtrackPipeline(models, variant.config)
        with sdma_strengths(models.ldm, variant.sdma):
            waves = sample_items(pipe, items, labels, seed=seed, **variant.settings)
        out: dict = {"n": n}
        emb = stem_embeddings(waves, cvsm=models.cvsm, mel_fn=mel_fn) if real is not None else None
        if real is not None:
            for s in STEMS:
                out[f"fad_cvsm_{s}"] = frechet_distance(emb["cvsm"][s], real["cvsm"][s])
                out[f"fad_stats_{s}"] = frechet_distance(emb["stats"][s], real["stats"][s])
        if clf is not None:
            leak = stem_leakage(clf, emb["stats"] if emb is not None else stats_embeddings(waves))
            out["leak_music"], out["leak_sfx"] = float(np.mean(leak["music"])), float(np.mean(leak["sfx"]))
        metrics = sync_and_tempo(waves, labels)
        out["sync_f1"], out["tempo_acc1"] = metrics["sync_f1"], metrics["tempo_acc1"]
        yield out


def run_sweep(sweep: Sweep, *, checkpoints: Path | None = None, corpus: Path = Path("corpus"),
              n: int | None = None, videos: list[str] | None = None, tempos: int | None = None, seed: int = 0,
              variants: list[str] | None = None, progress: bool = True) -> Iterator[dict]:
    """One row per variant (in the sweep's order, or `variants`'): {"sweep", "variant", "changes", ...}."""
    from soundtrack.evaluation.controls import TEMPOS
    from soundtrack.pipeline import load_bundled

    # 1. Check the options against the sweep's measurement
    by_name = {v.name: v for v in sweep.variants}
    unknown = [v for v in variants or () if v not in by_name]
    if unknown:
        raise InputError(f"{sweep.name} has no variant {', '.join(unknown)}; "
                         f"its variants: {', '.join(by_name)}")
    chosen = [by_name[v] for v in variants] if variants else list(sweep.variants)
    controls = sweep.measure == CONTROLS
    wrong = [flag for flag, given, ok in (("--n", n, not controls), ("--tempos", tempos, controls),
                                          ("--videos", videos, controls)) if given is not None and not ok]
    if wrong:
        runs = "control requests (--tempos, --videos)" if controls else "evaluation (--n, --corpus)"
        raise InputError(f"{' and '.join(wrong)} {'does' if len(wrong) == 1 else 'do'} not apply to "
                         f"{sweep.name}, which runs the {runs}")
    if n is not None and (isinstance(n, bool) or n < 1):
        raise InputError(f"--n must be at least 1, got {n}")
    if tempos is not None and not 1 <= tempos <= len(TEMPOS):
        raise InputError(f"--tempos must be between 1 and {len(TEMPOS)}, got {tempos}")
    # 2. The model, once; each variant gets its own pipeline
    models = load_bundled(checkpoints)
    if controls:
        rows = run_controls(sweep, chosen, models, checkpoints=checkpoints, videos=videos,
                            tempos=len(TEMPOS) if tempos is None else tempos, seed=seed)
    else:
        rows = run_evaluation(sweep, chosen, models, corpus=Path(corpus), n=sweep.n if n is None else n,
                              seed=seed, progress=progress)
    for variant, row in zip(chosen, rows):
        yield {"sweep": sweep.name, "variant": variant.name, "changes": variant.changes(), **row}


def main(argv: list[str] | None = None) -> int:
    from soundtrack.evaluation.sweeps import sweep_names

    argv = sys.argv[1:] if argv is None else argv
    p = argparse.ArgumentParser(prog="python -m soundtrack.evaluation.sweep",
                                description="run a sweep of soundtrack/evaluation/sweeps/ "
                                            f"({', '.join(sweep_names())})")
    p.add_argument("name", help="the sweep: a file of soundtrack/evaluation/sweeps/")
    p.add_argument("--n", type=int, default=None, help="evaluation sweeps: test clips (default: the sweep's)")
    p.add_argument("--corpus", type=Path, default=Path("corpus"), help="evaluation sweeps: the corpus")
    p.add_argument("--tempos", type=int, default=None,
                   help="control sweeps: how many of the 9 tempos 60..180 (default: all)")
    p.add_argument("--videos", type=Path, nargs="+", default=None,
                   help="control sweeps: run only the requests of these asset videos (default: the sweep's)")
    p.add_argument("--seed", type=int, default=0, help="seed of the first request or item (others: seed + k)")
    p.add_argument("--variants", nargs="+", default=None, help="run only these variants")
    p.add_argument("--checkpoints", type=Path, default=None, help="model folder (default: bundled)")
    p.add_argument("--json", type=Path, help="also write every row here")
    p.add_argument("--no-progress", action="store_true")
    args = p.parse_args(argv)
    rows = []
    try:
        sweep = load_sweep(args.name)
        for row in run_sweep(sweep, checkpoints=args.checkpoints, corpus=args.corpus, n=args.n,
                             videos=None if args.videos is None else [v.name for v in args.videos],
                             tempos=args.tempos, seed=args.seed, variants=args.variants,
                             progress=not args.no_progress):
            print(json.dumps(row, default=float), flush=True)
            rows.append(row)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"sweep": sweep.name, "about": sweep.about, "measure": sweep.measure,
                                         "argv": argv, "rows": rows}, indent=1, default=float) + "\n")
    return 0


__all__ = ["main", "run_controls", "run_evaluation", "run_sweep", "sdma_strengths"]

if __name__ == "__main__":
    sys.exit(main())
