"""A whole video, analysed once, cut into the model's overlapping 10.24 s windows.

    plan = prepare_video("clip.mp4")          # decode + analyse once (cache the result)
    plan.windows                              # [Window(start_frame=0, ...), Window(192, ...), ...]
    video, thumbs = plan.window_inputs(w)     # (256, 14) float32, (256, 3, 32, 32) uint8
    plan.auto_tempo                           # BPM from the cut and motion rhythm
    plan.tempo_for("auto")                    # the same; a number stays itself
    grid = plan.beat_grid(bpm)                # beats on the picture's pulse, downbeats on its cuts
    plan.window_beats(grid, w)                # (256,) beat position per latent frame

Windows are 256 analysis frames long (= latent frames, 25/s) and overlap by 64 frames
(2.56 s), so each continues the previous one (docs/method/snio.md §4); the last window may
run past the end of the video, whose final frame is then held.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundtrack.config import CLIP, TIMING, VIDEO
from soundtrack.music.beatgrid import BeatGrid, frame_times, grid_for_video
from soundtrack.video.features import VisualEvent

AUTO_TEMPO_RANGE = (70.0, 160.0)  # BPM the auto tempo chooses from
AUTO_TEMPO_DEFAULT = 100.0  # when the picture has no rhythm to follow


@dataclass(frozen=True)
class Window:
    index: int
    start_frame: int  # analysis (= latent) frame of the video where the window starts

    @property
    def start_s(self) -> float:
        return self.start_frame / VIDEO.analysis_fps


@dataclass(frozen=True, eq=False)
class VideoPlan:
    """Everything generation needs from one video file, computed once."""

    path: Path
    duration_s: float
    features: np.ndarray  # (N, 14) float32 feature matrix at 25 frames/s
    thumbs: np.ndarray  # (N, 3, 32, 32) uint8
    onset: np.ndarray  # (N,) visual onset strength 0..1
    events: tuple[VisualEvent, ...]

    @property
    def n_frames(self) -> int:
        return len(self.features)

    @property
    def windows(self) -> list[Window]:
        """ceil((N - 256) / 192) + 1 windows (one for a video of 10.24 s or less)."""
        n = 1 + max(0, math.ceil((self.n_frames - TIMING.window_frames) / TIMING.hop_frames))
        return [Window(k, k * TIMING.hop_frames) for k in range(n)]

    def window_inputs(self, window: Window) -> tuple[np.ndarray, np.ndarray]:
        """(256, 14) float32 features and (256, 3, 32, 32) uint8 thumbnails, edge-padded."""
        from soundtrack.video.matrix import fit_frames

        s, n = window.start_frame, TIMING.window_frames
        return fit_frames(self.features[s:s + n], n), fit_frames(self.thumbs[s:s + n], n)

    def window_events(self, window: Window) -> list[VisualEvent]:
        """The events inside the window, with times relative to its start."""
        t0, t1 = window.start_s, window.start_s + CLIP.seconds
        return [VisualEvent(e.time - t0, e.type, e.x, e.strength) for e in self.events if t0 <= e.time < t1]

    @functools.cached_property
    def auto_tempo(self) -> float:
        """BPM from the picture's cut and motion rhythm (computed once per plan)."""
        return auto_tempo(self.onset, fps=VIDEO.analysis_fps)

    def tempo_for(self, tempo: float | str) -> float:
        """The tempo a take is conditioned on: the requested BPM, or the picture's for "auto"."""
        return self.auto_tempo if tempo == "auto" else float(tempo)

    def beat_grid(self, bpm: float) -> BeatGrid:
        """The grid at `bpm` whose beats fall on the picture's pulse and downbeats on its cuts."""
        cuts = [e.time for e in self.events if e.type == "cut"]
        return grid_for_video(self.onset, fps=VIDEO.analysis_fps, bpm=bpm, cuts_s=cuts)

    def window_beats(self, grid: BeatGrid, window: Window) -> np.ndarray:
        """(256,) beat position of each latent frame of the window (the LDM's eq. 2d input)."""
        return grid.positions(frame_times(TIMING.window_frames, start_s=window.start_s)).astype(np.float32)


def prepare_video(path: Path | str) -> VideoPlan:
    """Decode (downscaled, 25 frames/s) and analyse the whole video once."""
    from soundtrack.video.decode import read_frames
    from soundtrack.video.features import analyze
    from soundtrack.video.matrix import feature_matrix, thumbnails

    frames = read_frames(path)  # InputError for anything that is not a decodable video
    vf = analyze(frames)
    n = len(frames.times)
    features = feature_matrix(vf, n_frames=n)  # (N, 14)
    thumbs = thumbnails(frames, n_frames=n)  # (N, 3, 32, 32)
    onset = np.clip(np.maximum(vf.onset, vf.cut_strength), 0.0, 1.0).astype(np.float32)
    return VideoPlan(path=Path(path), duration_s=float(frames.info.duration_s), features=features,
                     thumbs=thumbs, onset=onset, events=tuple(vf.events))


def auto_tempo(onset: np.ndarray, *, fps: float) -> float:
    """A tempo that follows the picture's rhythm (docs/method/snio.md §5).

    The autocorrelation of the visual onset envelope is read at the beat period of every
    tempo in 70-160 BPM (and at twice that period, so cuts on every other beat count);
    the best tempo under a log-normal prior centred on 100 BPM wins. A picture without a
    clear rhythm (peak autocorrelation below 0.1) gets 100 BPM.
    """
    x = np.asarray(onset, np.float64)
    x = x - x.mean()
    if len(x) < 2 * fps or not np.any(x):
        return AUTO_TEMPO_DEFAULT
    ac = np.correlate(x, x, mode="full")[len(x) - 1:]  # (N,) lags 0..N-1
    ac = ac / max(ac[0], 1e-12)
    bpms = np.arange(AUTO_TEMPO_RANGE[0], AUTO_TEMPO_RANGE[1] + 0.5, 1.0)
    lags = 60.0 * fps / bpms  # frames per beat

    def at(lag: np.ndarray) -> np.ndarray:
        return np.interp(lag, np.arange(len(ac)), ac, right=0.0)

    strength = at(lags) + 0.5 * at(2 * lags)
    prior = np.exp(-0.5 * (np.log2(bpms / AUTO_TEMPO_DEFAULT) / 0.5) ** 2)
    best = int(np.argmax(strength * prior))
    if strength[best] < 0.1:
        return AUTO_TEMPO_DEFAULT
    return float(bpms[best])


__all__ = ["VideoPlan", "Window", "auto_tempo", "prepare_video"]
