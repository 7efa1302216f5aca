"""Does the beat grid do its job? The checks behind docs/method/sdma.md §2 and docs/TRAINING.md.

    python -m scripts.beat_grid_checks phase --corpus corpus --n 8
        the grid taken from each test video (eq. 2e) against the item's labelled beats:
        mean beat-phase and bar errors, in beats
    python -m scripts.beat_grid_checks uses-grid RUN --corpus corpus --batches 12
        the run's epsilon-MSE on the music stem (training batches of the train split, fixed
        seeds) with the true grid, the grid shifted by half a beat, and no grid: a model that
        uses the grid does worse when it is wrong or missing
    python -m scripts.beat_grid_checks tempo RUN --corpus corpus --n 12
        librosa's tempo on the music of the first n test clips, generated (10 steps, no SNIO,
        no grid guidance) with the item's labelled grid and with none: the share within
        +-4 % of the request

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

from soundtrack.config import TIMING
from soundtrack.music.beatgrid import BeatGrid, frame_times, positions_from_beats
from soundtrack.music.theory import BEATS_PER_BAR

ROOT = Path(__file__).resolve().parents[1]


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

    times = frame_times(TIMING.latent_frames)
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
    from soundtrack.models.ldm import load_ldm
    from soundtrack.training.ldm import LDMStage

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


def generate_music(models, inputs, settings) -> np.ndarray:
    """One window generated from model inputs with plain guided sampling (no SNIO, no grid
    guidance), noise from the settings' seed: its music stem at 16 kHz."""
    from soundtrack.config import GenerationConfig, SamplerConfig
    from soundtrack.pipeline import LATENT_SHAPE, SoundtrackPipeline, generate_window

    pipe = SoundtrackPipeline(models, GenerationConfig(sampler=SamplerConfig(grid_guidance=0.0)))
    noise = torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(settings.seed))
    window = generate_window(pipe.models, pipe.scorer, pipe.config, inputs=inputs, settings=settings,
                             controls=settings.controls(float(settings.tempo)), noise=noise)
    while True:  # a generator of SNIO updates that returns the window
        try:
            next(window)
        except StopIteration as done:
            return done.value.wave[0]


def tempo(run: Path, corpus: Path, n: int) -> dict:
    from soundtrack.audio.tempo import tempo_correct, tempo_estimate
    from soundtrack.config import AUDIO
    from soundtrack.corpus.cache import load_split
    from soundtrack.models.checkpoint import run_folder
    from soundtrack.pipeline import Settings, WindowInputs, load_models

    models = load_models(vae_run=run_folder("vae"), vocoder_run=run_folder("vocoder"),
                         cvsm_run=run_folder("cvsm"), ldm_run=run)
    arrays = load_split(corpus, "test", progress=False)
    times = frame_times(TIMING.latent_frames)
    rows = {"grid": [], "none": []}
    for i in range(n):
        lab = arrays.labels[i]
        settings = Settings.from_labels(lab, seed=i, steps=10, snio_iters=0)
        grid = BeatGrid.from_labels(lab)
        inputs = WindowInputs(features=arrays.video[i].float().numpy(), thumbs=arrays.thumbs[i].numpy(),
                              beat_pos=grid.positions(times).astype(np.float32))
        for name in rows:
            with no_grid(models.ldm) if name == "none" else contextlib.nullcontext():
                music = generate_music(models, inputs, settings)
            est = tempo_estimate(music, AUDIO.sample_rate)
            rows[name].append({"requested": lab["tempo_bpm"], "measured": round(est, 1),
                               "within_4pct": tempo_correct(est, lab["tempo_bpm"])[0]})
    return {"run": str(run), "items": n,
            **{f"tempo_acc1_{k}": round(float(np.mean([r["within_4pct"] for r in v])), 3)
               for k, v in rows.items()},
            "rows": rows}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m scripts.beat_grid_checks", description=__doc__,
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
