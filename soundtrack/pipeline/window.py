"""ONE 10.24 s window, generated: the only place a window's music and effects are made.

:func:`generate_window` is a generator: it yields an :class:`Update` per SNIO iteration and
returns a :class:`WindowOutput` (``out = yield from generate_window(...)``). The whole-video
stream (soundtrack/pipeline/stream.py) calls it once per window; evaluation and tests call
it on model inputs (:class:`WindowInputs`) rather than a file.
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from typing import Callable, Generator

import numpy as np
import torch
from torch import Tensor

from soundtrack.config import TIMING, GenerationConfig
from soundtrack.models.ldm import LATENT_CHANNELS, N_BINS, is_score_model
from soundtrack.music.beatgrid import BeatGrid
from soundtrack.music.score import LANES, orchestrate
from soundtrack.pipeline.loading import Models
from soundtrack.pipeline.settings import Controls, Settings
from soundtrack.pipeline.take import Update, UpdateKind
from soundtrack.sampling.decode import decode_for, roll_of, vocode
from soundtrack.sampling.sampler import Sampler
from soundtrack.sampling.scores import Scorer, ScoreTargets
from soundtrack.sampling.snio import project_to_shell, snio
from soundtrack.video.matrix import FEATURE_NAMES
from soundtrack.video.plan import VideoPlan, Window

LATENT_SHAPE = (1, LATENT_CHANNELS, TIMING.window_frames, 2 * N_BINS)  # (1, 8, 256, 32): one window, eq. (1)


@dataclass(frozen=True, eq=False)
class WindowInputs:
    """What one window is generated from: the model's view of 10.24 s of the picture."""

    features: np.ndarray  # (256, 14) float32 visual features at 25 frames/s
    thumbs: np.ndarray  # (256, 3, 32, 32) uint8
    beat_pos: np.ndarray  # (256,) float32 beat position of each latent frame (sdma.md eq. 2d)
    events_s: tuple[float, ...] = ()  # visual events, seconds from the window's start
    heard: int = TIMING.mel_frames  # mel frames the take keeps (the video may end inside; snio.md eq. 8c)
    index: int = 0
    start_s: float = 0.0

    @classmethod
    def from_plan(cls, plan: VideoPlan, window: Window, grid: BeatGrid) -> WindowInputs:
        from soundtrack.pipeline.mixdown import heard_frames

        feats, thumbs = plan.window_inputs(window)
        return cls(features=feats, thumbs=thumbs, beat_pos=plan.window_beats(grid, window),
                   events_s=tuple(e.time for e in plan.window_events(window)),
                   heard=heard_frames(plan.duration_s, window.start_s), index=window.index,
                   start_s=window.start_s)


@dataclass(eq=False)
class WindowOutput:
    """One generated window: its latent, SNIO's offset, both stems and their report entry."""

    z: Tensor  # (1, 8, 256, 32) scaled two-stem latent: music columns 0-15, effects 16-31
    offset: Tensor  # (1, 8, 256, 32) SNIO's move of the latent: the next take's warm start
    wave: np.ndarray  # (2, 163840) float32 music, effects at 16 kHz (the score engine's music: silent,
    #                   its notes are rendered for the whole take, soundtrack/pipeline/notes.py)
    music_mel: Tensor  # (1, 64, 1024) decoded log-mels
    sfx_mel: Tensor
    report: dict  # report.json's "windows" entry
    timings: dict[str, float] = field(default_factory=dict)  # seconds: cvsm, sample, snio, decode, vocode
    roll: np.ndarray | None = None  # (8, 256, 16) the score engine's note roll (soundtrack/music/score.py)


def generate_window(models: Models, scorer: Scorer, config: GenerationConfig, *, inputs: WindowInputs,
                    settings: Settings, controls: Controls, noise: Tensor, offset: Tensor | None = None,
                    prev: Tensor | None = None, n_windows: int = 1, grid: BeatGrid | None = None,
                    tick: Callable[[], float] = lambda: 0.0, cancel=None,
                    ) -> Generator[Update, None, WindowOutput]:
    """Music and effects of one window (snio.md Algorithm 1 inside the guided sampler).

    noise: (1, 8, 256, 32) the window's starting noise; offset: a previous take's SNIO offset
    for this window (warm start), else None; prev: the previous window's latent, whose overlap
    this one continues (outpainting, snio.md eq. 12; None: the first window or no outpainting);
    tick(): called per sampler step and SNIO iteration, returns the progress (it may raise
    Cancelled); cancel: a threading.Event SNIO checks between iterations.
    """
    m, dev, samp = models, models.device, config.sampler
    timings: dict[str, float] = {}
    snio_cfg = dataclasses.replace(config.snio, iters=settings.snio_iters)
    k_snio = snio_cfg.step(settings.steps)  # SNIO optimises the latent before this sampler step
    # 1. This window's video tokens, CVSM video embedding and conditions (cvsm.md eq. 1a; sdma.md eq. 2)
    t0 = time.perf_counter()
    with torch.no_grad():
        enc = m.cvsm.video(torch.from_numpy(inputs.features)[None].float().to(dev),
                           torch.from_numpy(inputs.thumbs)[None].to(dev))
        beat_pos = torch.from_numpy(inputs.beat_pos)[None].to(dev)  # (1, 256)
        wanted = controls.tensors(dev)
        cond = m.ldm.encode_conditions(video_tokens=enc.tokens, beat_pos=beat_pos, **wanted)
        gridless = (m.ldm.encode_conditions(video_tokens=enc.tokens, **wanted)
                    if samp.grid_guidance else None)  # eq. (14b)
    timings["cvsm"] = time.perf_counter() - t0
    roll_targets = {}
    if is_score_model(m.ldm):  # score.md eqs. S7-S8: the lanes a family plays, the picture's motion
        lanes = orchestrate(dict(controls.instruments))
        roll_targets = {"lanes": [float(bool(lanes[lane])) for lane in LANES],
                        "motion": inputs.features[:, FEATURE_NAMES.index("motion")]}
    targets = ScoreTargets.make(tempo_bpm=controls.tempo_bpm, instruments=controls.instruments,
                                balance=settings.balance, events_s=list(inputs.events_s),
                                n_frames=TIMING.mel_frames, heard=inputs.heard, weights=config.weights,
                                **roll_targets)
    # 2. Outpainting: hold the overlap at the previous window's latent (snio.md eq. 12)
    known = mask = None
    if prev is not None and samp.outpaint:
        ov = TIMING.overlap_frames
        known = torch.zeros(LATENT_SHAPE, device=dev)
        mask = torch.zeros(LATENT_SHAPE, device=dev)
        known[:, :, :ov] = prev[:, :, TIMING.window_frames - ov:]
        mask[:, :, :ov] = 1.0
    # 3. The guided sampler (sdma.md eqs. 1, 14, 14b) up to SNIO's step k
    t0 = time.perf_counter()
    sampler = Sampler(m.ldm, cond, steps=settings.steps, noise=noise.to(dev), guidance=settings.guidance,
                      scheduler=samp.scheduler, known=known, mask=mask, gridless=gridless,
                      grid_guidance=samp.grid_guidance, grid_until=samp.grid_until,
                      hold_until=samp.hold_until)
    with torch.no_grad():
        x = sampler.run(sampler.start(), 0, k_snio, callback=lambda info: tick())
        x_k = x
        if offset is not None:  # warm start: go on from where the last take's SNIO ended
            x_k = x + offset.to(dev)
            if k_snio == 0:  # the starting noise stays on its Gaussian shell (eq. 11)
                x_k = project_to_shell(x_k)
    timings["sample"] = time.perf_counter() - t0
    # 4. SNIO on the latent x_{t_k} (Algorithm 1), streamed
    t0 = time.perf_counter()
    history = []
    for it in snio(sampler, m.vae, scorer, targets, x_k, step=k_snio, cfg=snio_cfg, video_embed=enc.embed,
                   cancel=cancel):
        history.append(it.scores)
        x_k = it.x
        yield Update(UpdateKind.SNIO, inputs.index, n_windows, tick(), scores=it.scores, iteration=it.iter,
                     music_mel=it.music_mel, sfx_mel=it.sfx_mel, grid=grid)
    timings["snio"] = time.perf_counter() - t0
    # 5. The rest of the sampler from the optimised latent
    t0 = time.perf_counter()
    with torch.no_grad():
        z = sampler.run(x_k, k_snio, callback=lambda info: tick())
    timings["sample"] += time.perf_counter() - t0
    # 6. Decode both stems (a note roll: its mel stand-in); score the result with the same scores
    t0 = time.perf_counter()
    with torch.no_grad():
        music_mel, sfx_mel = decode_for(m.ldm, m.vae, z)  # (1, 64, 1024) each
        final = scorer(music_mel, sfx_mel, targets, video_embed=enc.embed, roll=roll_of(m.ldm, z))
    timings["decode"] = time.perf_counter() - t0
    # 7. Vocode both stems in one batch (the score engine: the effects only)
    t0 = time.perf_counter()
    with torch.no_grad():
        if is_score_model(m.ldm):
            sfx_wave = vocode(m.vocoder, sfx_mel).float().cpu().numpy()  # (1, 163840)
            wave = np.concatenate([np.zeros_like(sfx_wave), sfx_wave])
        else:
            wave = vocode(m.vocoder, torch.cat([music_mel, sfx_mel])).float().cpu().numpy()  # (2, 163840)
    timings["vocode"] = time.perf_counter() - t0
    report = {"window": inputs.index, "start_s": inputs.start_s, "events": len(inputs.events_s),
              "heard_s": inputs.heard / TIMING.mel_fps,
              "snio_surrogate": {"before": history[0], "after": history[-1]},
              "output": {k: float(v.mean()) for k, v in final.items()}}
    roll = z[0, :, :, :N_BINS].float().cpu().numpy() if is_score_model(m.ldm) else None
    return WindowOutput(z=z, offset=(x_k - x).detach().cpu(), wave=wave, music_mel=music_mel, sfx_mel=sfx_mel,
                        report=report, timings=timings, roll=roll)


__all__ = ["LATENT_SHAPE", "WindowInputs", "WindowOutput", "generate_window"]
