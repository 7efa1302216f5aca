"""Does the beat grid do its job? The checks behind docs/method/sdma.md §2 and docs/TRAINING.md.

    python scripts/beat_grid_checks.py phase --corpus corpus --n 8
        the grid taken from each test video (eq. 2e) against the item's labelled beats:
        mean beat-phase and bar errors, in beats
    python scripts/beat_grid_checks.py uses-grid RUN --corpus corpus --batches 12
        the run's epsilon-MSE on the music stem (training batches of the train split, fixed
        seeds) with the true grid, the grid shifted by half a beat, and no grid: a model that
        uses the grid does worse when it is wrong or missing
    python scripts/beat_grid_checks.py tempo RUN --corpus corpus --n 12
        librosa's tempo on the music of the first n test clips, generated (10 steps, no SNIO)
        with the item's labelled grid and with none: the share within +-4 % of the request

RUN is an LDM run folder (config.json + model.safetensors); the other models are the bundled
ones. One JSON object on stdout.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from soundtrack.models.beatgrid import BEATS_PER_BAR, BeatGrid, frame_times, positions_from_beats  # noqa: E402


@contextlib.contextmanager
def no_grid(ldm):
    """The model as if given no grid: its grid layer (eq. 2d) outputs zero while inside."""
    saved = [p.detach().clone() for p in ldm.beat.parameters()]
    with torch.no_grad():
        for p in ldm.beat.parameters():
            p.zero_()
    try:
        yield
    finally:
        with torch.no_grad():
            for p, v in zip(ldm.beat.parameters(), saved):
                p.copy_(v)


def phase(corpus: Path, n: int) -> dict:
    from soundtrack.video.plan import prepare_video

    times = frame_times(256)
    beat_err, bar_err = [], []
    for item in sorted((corpus / "test").iterdir())[:n]:
        lab = json.loads((item / "labels.json").read_text())
        grid = prepare_video(item / "video.mp4").beat_grid(lab["tempo_bpm"])
        diff = grid.positions(times) - positions_from_beats(lab["beats"], lab["downbeats"], times,
                                                            bpm=lab["tempo_bpm"])
        beat_err.append(float(((diff + 0.5) % 1 - 0.5).mean()))
        bar_err.append(float(((diff + BEATS_PER_BAR / 2) % BEATS_PER_BAR - BEATS_PER_BAR / 2).mean()))
    return {"items": n, "beat_phase_error_beats": [round(e, 3) for e in beat_err],
            "bar_error_beats": [round(e, 3) for e in bar_err]}


def uses_grid(run: Path, corpus: Path, batches: int) -> dict:
    from soundtrack.models.ldm import LDMStage, load_ldm

    model, stage = load_ldm(run), LDMStage()
    data = stage.data(model.cfg, corpus=corpus, device=torch.device("cpu"))
    mse = {"true": [], "half_beat_shift": [], "none": []}
    with torch.no_grad():
        for k in range(batches):
            batch = data.batch(step=100_000 + k, rank=0, world=1, seed=7)
            for name in mse:
                b = {**batch, "beat_pos": batch["beat_pos"] + (0.5 if name == "half_beat_shift" else 0.0)}
                torch.manual_seed(k)  # the same t, noise and dropout for the three
                with no_grid(model) if name == "none" else contextlib.nullcontext():
                    _, logs = stage.loss(model, b, step=0)
                mse[name].append(logs["mse_music"])
    return {"run": str(run), "batches": batches, **{f"mse_music_{k}": round(float(np.mean(v)), 5)
                                                     for k, v in mse.items()}}


def tempo(run: Path, corpus: Path, n: int) -> dict:
    from soundtrack.data.cache import load_split
    from soundtrack.data.verify import tempo_correct, tempo_estimate
    from soundtrack.pipeline import Controls, checkpoint_root, generate_clip, load_models

    ckpt = checkpoint_root()
    models = load_models(vae_run=ckpt / "vae", vocoder_run=ckpt / "vocoder", cvsm_run=ckpt / "cvsm", ldm_run=run)
    arrays = load_split(corpus, "test", progress=False)
    rows = {"grid": [], "none": []}
    for i in range(n):
        lab = arrays.labels[i]
        c = Controls.from_labels(lab)
        controls = Controls(instruments=c.instruments, tempo_bpm=c.tempo_bpm, key=c.key, mode=c.mode,
                            intensity=min(1.0, max(0.6, c.intensity)))
        grid = BeatGrid.from_labels(lab)
        for name in rows:
            with no_grid(models.ldm) if name == "none" else contextlib.nullcontext():
                clip = generate_clip(models, video=arrays.video[i], thumbs=arrays.thumbs[i], controls=controls,
                                     seed=i, steps=10, grid=grid)
            est = tempo_estimate(clip.music, 16000)
            rows[name].append({"requested": lab["tempo_bpm"], "measured": round(est, 1),
                               "within_4pct": tempo_correct(est, lab["tempo_bpm"])[0]})
    return {"run": str(run), "items": n, **{f"tempo_acc1_{k}": round(float(np.mean([r["within_4pct"] for r in v])), 3)
                                            for k, v in rows.items()}, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python scripts/beat_grid_checks.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("check", choices=["phase", "uses-grid", "tempo"])
    p.add_argument("run", type=Path, nargs="?", help="LDM run folder (uses-grid, tempo)")
    p.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    p.add_argument("--n", type=int, default=12)
    p.add_argument("--batches", type=int, default=12)
    args = p.parse_args(argv)
    if args.check != "phase" and args.run is None:
        p.error(f"{args.check} needs an LDM run folder")
    if args.check == "phase":
        result = phase(args.corpus, args.n)
    elif args.check == "uses-grid":
        result = uses_grid(args.run, args.corpus, args.batches)
    else:
        result = tempo(args.run, args.corpus, args.n)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
