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

import numpy as np

from soundtrack.config import AUDIO, MIX, TIMING
from soundtrack.music.beatgrid import BeatGrid
from soundtrack.music.score import LANES, Score, ScoreNote, decode_roll, orchestrate, score_from_lanes
from soundtrack.pipeline.settings import Controls


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


__all__ = ["render_take", "take_score"]
