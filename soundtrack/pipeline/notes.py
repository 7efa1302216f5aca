"""The score engine's music: window rolls -> one Score of the take -> sampled instruments at 48 kHz.

Windows overlap by 2.56 s and the later one holds the overlap at the earlier one's latent
for the first half of its steps (outpainting), so both wrote nearly the same notes there.
:func:`take_score` keeps each note once: a window contributes the notes that START in its
own span, which ends (and the next one's begins) at the middle of the overlap (score.md
eq. S6). The notes are decoded on the take's beat grid (quantised to its sixteenths), in the
requested key and mode, and played by the families the instrumentation weights choose
(:func:`soundtrack.music.score.orchestrate`).
"""
from __future__ import annotations

import dataclasses
import time

import numpy as np

from soundtrack.config import AUDIO, MIX, TIMING
from soundtrack.errors import InputError
from soundtrack.music.beatgrid import BeatGrid
from soundtrack.music.score import (LANES, Score, ScoreNote, decode_roll, orchestrate,
                                    reorchestrate, score_from_lanes)
from soundtrack.pipeline.mixdown import mix_take
from soundtrack.pipeline.report import loudness
from soundtrack.pipeline.settings import Controls
from soundtrack.pipeline.take import Take


def take_score(rolls: list[np.ndarray], starts_s: list[float], *, controls: Controls, grid: BeatGrid,
               duration_s: float) -> Score:
    """Window rolls (each (8, 256, 16)) starting at `starts_s` -> the take's Score (eq. S6)."""
    assert len(rolls) == len(starts_s) and rolls, f"{len(rolls)=} {len(starts_s)=}"
    half_overlap = 0.5 * TIMING.overlap_frames / TIMING.latent_fps
    lanes: dict[str, list[ScoreNote]] = {lane: [] for lane in LANES}
    for k, (roll, t0) in enumerate(zip(rolls, starts_s)):
        lo = t0 + half_overlap if k > 0 else -np.inf
        hi = starts_s[k + 1] + half_overlap if k + 1 < len(rolls) else np.inf
        window = decode_roll(roll, grid=grid, key=controls.key, mode=controls.mode, start_s=t0,
                             duration=duration_s, intensity=controls.intensity)
        for lane, notes in window.items():
            lanes[lane].extend(n for n in notes if lo <= n.start < hi)
    return score_from_lanes(lanes, orchestrate(dict(controls.instruments)), grid=grid, key=controls.key,
                            mode=controls.mode, duration=duration_s)


def window_score(roll: np.ndarray, *, start_s: float, seconds: float, controls: Controls,
                 grid: BeatGrid) -> Score:
    """One window's roll (8, 256, 16) as a Score of its own `seconds`, in the window's time (0 at
    `start_s`): what the studio plays while the take is still being generated."""
    local = dataclasses.replace(grid, first_beat_s=grid.first_beat_s - start_s)  # the same beats, shifted
    lanes = decode_roll(roll, grid=local, key=controls.key, mode=controls.mode, duration=seconds,
                        intensity=controls.intensity)
    return score_from_lanes(lanes, orchestrate(dict(controls.instruments)), grid=local, key=controls.key,
                            mode=controls.mode, duration=seconds)


def render_take(score: Score, *, soundfont: str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(music48 (2, N48) float32 at the deliverable rate, music16 (N16,) its mono fold at the model's
    rate) of a score; a score without notes gives silence (the mixer keeps a silent stem silent)."""
    from soundtrack.audio.mix import resample
    from soundtrack.render.instruments import render_score

    n48 = int(round(score.duration * MIX.sample_rate))
    n16 = int(round(score.duration * AUDIO.sample_rate))
    if score.n_notes == 0:
        return np.zeros((2, n48), np.float32), np.zeros(n16, np.float32)
    stereo = render_score(score, sr=MIX.sample_rate, soundfont=soundfont)  # (N48, 2)
    music48 = np.ascontiguousarray(stereo.T[:, :n48], dtype=np.float32)
    music16 = resample(music48.mean(0), sr_in=MIX.sample_rate, sr_out=AUDIO.sample_rate, n_out=n16)
    return music48, music16.astype(np.float32)


def score_report(score: Score, *, soundfont: str) -> dict:
    """report["score"] of a take: who plays what, how many notes, through which soundfont."""
    return {"families": score.families, "notes": score.n_notes, "soundfont": soundfont,
            "parts": {p.family: {"role": p.role, "program": p.program, "notes": len(p.notes)}
                      for p in score.parts}}


def reorchestrate_take(take: Take, moves: dict[str, str], *, soundfont: str | None = None) -> Take:
    """The take's notes played by other families (e.g. {"strings": "brass"}), rendered and mixed
    again at the take's balance: no generation, a fraction of a second. One-line InputError for
    a neural take (no notes), an unknown family or a family the take does not have."""
    from soundtrack.render.soundfonts import default_soundfont

    if take.score is None:
        raise InputError("this take has no notes to re-orchestrate: it was made by the neural engine")
    try:
        score = reorchestrate(take.score, moves)
    except KeyError as e:
        raise InputError(str(e.args[0])) from None
    t0 = time.perf_counter()
    music48, music16 = render_take(score, soundfont=soundfont)
    mix = mix_take(music48, take.sfx16, events=take.events, balance=take.settings.balance)
    report = dict(take.report)
    report["score"] = score_report(score, soundfont=soundfont or default_soundfont())
    report["reorchestrated"] = {**take.report.get("reorchestrated", {}), **moves}
    report["loudness"] = loudness(mix)
    elapsed = time.perf_counter() - t0
    report["timings_s"] = {"render": elapsed, "total": elapsed}
    return dataclasses.replace(take, score=score, music48=music48, music16=music16, mix=mix, report=report)


__all__ = ["render_take", "reorchestrate_take", "score_report", "take_score",
           "window_score"]
