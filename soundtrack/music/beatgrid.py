"""The beat grid: where the music's beats and bars fall, as the LDM sees it (docs/method/sdma.md eq. 2d).

A grid is a continuous *beat position* p(t) per latent frame: p is an integer on every
beat and a multiple of BEATS_PER_BAR on every downbeat. The LDM reads it through six
periodic features (sin/cos at the beat, the half bar and the bar: :func:`beat_features`)
added to its time-aligned channels, so the UNet's convolutions can place onsets where the musician's tempo puts
beats. Training reads the grid from each corpus item's labelled beats; generation builds it
from the requested tempo with the phase taken from the video (:func:`grid_for_video`), so
beats fall on the picture's pulse and downbeats on its cuts.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from soundtrack.config import TIMING
from soundtrack.music.theory import BEATS_PER_BAR


def frame_times(frames: int, *, start_s: float = 0.0) -> np.ndarray:
    """(frames,) centre time in seconds of each latent frame: mel frames 4i..4i+3, centred STFT."""
    k = float(TIMING.time_compression)  # mel frames per latent frame
    return start_s + (k * np.arange(frames) + (k - 1) / 2) / (k * TIMING.latent_fps)


def positions_from_beats(beats: Sequence[float], downbeats: Sequence[float], times: np.ndarray,
                         *, bpm: float) -> np.ndarray:
    """(T,) beat position at `times` from labelled beat and downbeat times (a corpus item).

    Linear between labelled beats, extrapolated at the tempo's period outside them; shifted
    so the first labelled downbeat is at a multiple of BEATS_PER_BAR.
    """
    times = np.asarray(times, np.float64)
    period = 60.0 / bpm
    beats = np.asarray(beats, np.float64)
    if len(beats) < 2:
        return (times - (beats[0] if len(beats) else 0.0)) / period
    idx = np.arange(len(beats), dtype=np.float64)
    pos = np.interp(times, beats, idx)
    pos = np.where(times < beats[0], (times - beats[0]) / period, pos)
    pos = np.where(times > beats[-1], idx[-1] + (times - beats[-1]) / period, pos)
    if len(downbeats):
        pos = pos - (first_downbeat(beats, downbeats) % BEATS_PER_BAR)
    return pos


def first_downbeat(beats: Sequence[float], downbeats: Sequence[float]) -> int:
    """Index of the labelled beat nearest the first labelled downbeat."""
    return int(np.argmin(np.abs(np.asarray(beats, np.float64) - downbeats[0])))


@dataclass(frozen=True)
class BeatGrid:
    """A steady grid: beats every 60/bpm s from `first_beat_s`; beat number `downbeat` (0-3) of
    those starts the bars. Positions are in beats, 0 at the first downbeat at or after 0 s."""

    bpm: float
    first_beat_s: float
    downbeat: int = 0

    @property
    def period_s(self) -> float:
        return 60.0 / self.bpm

    @classmethod
    def from_labels(cls, labels: dict) -> BeatGrid:
        """The steady grid of a corpus item's labels (its tempo, first beat and first downbeat)."""
        down = first_downbeat(labels["beats"], labels["downbeats"]) if labels["downbeats"] else 0
        return cls(bpm=float(labels["tempo_bpm"]), first_beat_s=float(labels["beats"][0]),
                   downbeat=down % BEATS_PER_BAR)

    def positions(self, times: np.ndarray) -> np.ndarray:
        """(T,) beat position at `times` (seconds from the start of the video)."""
        return (np.asarray(times, np.float64) - self.first_beat_s) / self.period_s - self.downbeat

    def beats_between(self, t0: float, t1: float) -> np.ndarray:
        """Beat times in [t0, t1), seconds."""
        k0 = math.ceil((t0 - self.first_beat_s) / self.period_s)
        k1 = math.ceil((t1 - self.first_beat_s) / self.period_s)
        return self.first_beat_s + self.period_s * np.arange(k0, k1)

    def to_dict(self) -> dict:
        return {"bpm": round(self.bpm, 3), "first_beat_s": round(self.first_beat_s, 4), "downbeat": self.downbeat}

    @classmethod
    def from_dict(cls, d: dict) -> BeatGrid:
        """The inverse of :meth:`to_dict` (a report's "beat_grid")."""
        return cls(bpm=float(d["bpm"]), first_beat_s=float(d["first_beat_s"]), downbeat=int(d["downbeat"]))


def grid_for_video(onset: np.ndarray, *, fps: float, bpm: float,
                   cuts_s: Sequence[float] = ()) -> BeatGrid:
    """The grid at `bpm` whose beats best match the picture (eq. 2e).

    onset (N,) visual onset strength at `fps`. The beat phase maximises
    sum_n onset_n cos(2 pi (t_n - phi) / P), which is the argument of the onset envelope's
    Fourier coefficient at the beat frequency; the downbeat is the beat (of four) whose bar
    phase best matches the cuts (or, without cuts, the onset envelope).
    """
    period = 60.0 / bpm
    onset = np.asarray(onset, np.float64)
    t = np.arange(len(onset)) / fps
    coef = np.sum(onset * np.exp(2j * np.pi * t / period))
    phi = (np.angle(coef) / (2 * np.pi)) % 1.0 * period if abs(coef) > 1e-6 else 0.0
    if len(cuts_s):
        when, weight = np.asarray(cuts_s, np.float64), np.ones(len(cuts_s))
    else:
        when, weight = t, onset
    bar = BEATS_PER_BAR * period
    scores = [np.sum(weight * np.cos(2 * np.pi * (when - phi - k * period) / bar)) for k in range(BEATS_PER_BAR)]
    return BeatGrid(bpm=float(bpm), first_beat_s=float(phi), downbeat=int(np.argmax(scores)))

