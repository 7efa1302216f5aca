"""Visual features and events from footage, with hand-made measures and no learned weights.

Every measure is computed per analysis frame (fixed rate, see :mod:`.decode`). A frame that
repeats the previous one exactly (a source slower than the analysis rate, or a still stretch)
gets no new temporal measure. The frame-to-frame measures are taken between *distinct*
frames and held over repeats, so a 24 fps source sampled at 25 fps shows no fake stop once a
second; only the spike-like ``cut_strength`` and ``onset`` are 0 on a repeat.

Per frame, with RGB in 0..1 and luma Y = 0.299 R + 0.587 G + 0.114 B (BT.601):

- ``brightness`` = mean Y; ``rgb`` = mean R, G, B; ``saturation`` = mean HSV saturation.
- ``hue`` = circular mean of the HSV hue angle weighted by saturation, in 0..1 (0 for grey).
- ``motion`` = mean |Y_t - Y_{t-1}|.
- ``motion_x`` = horizontal centroid of |D_t|, where D_t = G*Y_t - G*Y_{t-1} is the
  difference of Gaussian-blurred luma with coding noise (|D| < ``noise``) zeroed; 0.5 when
  nothing moves.
- ``cut_strength`` = total-variation distance 0.5 * sum|h_t - h_{t-1}| between 64-bin RGB
  histograms (4 levels per channel, soft-binned so a small brightness shift moves little
  mass), in 0..1.
- ``onset`` = the largest of four cues, each scaled to 0..1: the rise of ``motion`` above
  its recent median, the histogram jump above its local median (weighted by how much the
  picture structure broke), the brightness rise, and the impact strength (detect.py). It is 0
  on repeated frames.

The events (``VisualEvent``: cut, flash, impact) and their criteria are described in
:mod:`soundtrack.video.detect`; the image measures (blurs, histograms, hue) are in
:mod:`soundtrack.video.measures`.

Implementation: frames are processed as (N, H, W) float32 stacks; the Gaussian blurs and
window sums are products with small matrices (BLAS, held to one thread: the products
are many and small), and the colour histograms use table look-ups and one matrix
product per frame.
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from soundtrack.config import VIDEO
from soundtrack.video.decode import Frames, read_frames
from soundtrack.video.detect import (EventParams, FrameStats, find_cuts, find_flashes, impact_scores,
                                     onset_strength, suppress)
from soundtrack.video.measures import (LUMA_TABLES, Regions, blur, centroid, correlation, pair_measures,
                                       saturation_hue, soft_histogram, tv_distance)


@dataclass(frozen=True)
class VisualEvent:
    """A visual event: `type` is "cut", "flash" or "impact"; `x` is the horizontal position
    0..1 (0.5 for whole-frame events); `strength` is 0..1."""

    time: float
    type: str
    x: float
    strength: float


@dataclass(frozen=True)
class VisualFeatures:
    """Per-analysis-frame features (all (N,), `rgb` (N, 3)) and the detected events."""

    times: np.ndarray  # (N,) seconds
    motion: np.ndarray  # (N,) 0..1
    motion_x: np.ndarray  # (N,) 0..1
    brightness: np.ndarray  # (N,) 0..1
    saturation: np.ndarray  # (N,) 0..1
    hue: np.ndarray  # (N,) 0..1, circular
    rgb: np.ndarray  # (N, 3) 0..1
    cut_strength: np.ndarray  # (N,) 0..1
    onset: np.ndarray  # (N,) 0..1
    events: list[VisualEvent] = field(default_factory=list)


def analyze_video(path: str | Path, *, params: EventParams = EventParams()) -> VisualFeatures:
    """Decode `path` at the analysis rate and size (config.VIDEO) and analyse it."""
    return analyze(read_frames(path, fps=VIDEO.analysis_fps, width=VIDEO.analysis_width), params=params)


def analyze(frames: Frames, *, params: EventParams = EventParams()) -> VisualFeatures:
    """Features and events of fixed-rate frames; see the module docstring for the method."""
    # 1. Distinct frames: a repeat of the previous frame carries no new temporal information.
    images = frames.frames  # (N, H, W, 3)
    n = images.shape[0]
    flat = images.reshape(n, -1)
    repeat = np.zeros(n, dtype=bool)
    repeat[1:] = ~(flat[1:] != flat[:-1]).any(axis=1)
    first = np.flatnonzero(~repeat)  # (U,) analysis index of each distinct frame
    owner = np.cumsum(~repeat) - 1  # (N,) distinct frame shown at each analysis frame

    # 2. Per-frame measures on the distinct frames.
    stats = _distinct_stats(images, first, params=params)
    cut_strength = tv_distance(stats.hist)  # (U,)

    # 3. Events on the distinct frames, placed at analysis frames, thinned by NMS.
    rate = frames.fps * first.shape[0] / n  # distinct frames per second, for time windows
    impact, impact_x = impact_scores(stats, params=params)  # (U,), (U,)
    candidates = (
        find_cuts(stats, cut_strength, rate=rate, params=params)
        + find_flashes(stats, rate=rate, params=params)
        + [(int(u), "impact", float(impact_x[u]), float(impact[u])) for u in np.flatnonzero(impact > 0)]
    )
    kept = suppress([(int(first[u]), kind, x, s) for u, kind, x, s in candidates], gap=params.min_gap)
    events = [VisualEvent(time=float(frames.times[k]), type=kind, x=x, strength=s) for k, kind, x, s in kept]

    # 4. Spike-like measures are 0 on repeated frames (else a cut would show twice).
    onset = np.zeros(n, dtype=np.float32)
    onset[first] = onset_strength(stats, cut_strength, impact, rate=rate, params=params)
    cut = np.zeros(n, dtype=np.float32)
    cut[first] = cut_strength

    return VisualFeatures(
        times=frames.times,
        motion=stats.motion[owner],
        motion_x=stats.motion_x[owner],
        brightness=stats.brightness[owner],
        saturation=stats.saturation[owner],
        hue=stats.hue[owner],
        rgb=stats.rgb[owner],
        cut_strength=cut,
        onset=onset,
        events=events,
    )


def _distinct_stats(
    images: np.ndarray, first: np.ndarray, *, params: EventParams, block: int = 256
) -> FrameStats:
    """Measures of images[first] in blocks of `block` frames (bounded temporaries).

    Each block carries the three distinct frames before it, which the temporal measures
    need; before the start the first frame is repeated, so frame 0 has no motion.
    """
    u_total = first.shape[0]
    parts: list[FrameStats] = []
    with _single_threaded_blas():
        for a in range(0, u_total, block):
            b = min(a + block, u_total)
            index = first[np.clip(np.arange(a - 3, b), 0, None)]  # (b - a + 3,)
            parts.append(_block_stats(images[index], params=params))
    merged = {
        name: np.concatenate([getattr(p, name) for p in parts], axis=0)
        for name in FrameStats.__dataclass_fields__
    }
    stats = FrameStats(**merged)
    assert stats.brightness.shape == (u_total,), f"{stats.brightness.shape=} {u_total=}"
    return stats


@functools.cache
def _blas_controller() -> object | None:
    try:
        from threadpoolctl import ThreadpoolController  # scikit-learn's, via librosa
    except ImportError:
        return None
    return ThreadpoolController()


def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """The matrix products here are many and small: BLAS threads only wait on each other
    (badly so when the cores are busy, as they are during a generation or a corpus build)."""
    controller = _blas_controller()
    return controller.limit(limits=1, user_api="blas") if controller is not None else contextlib.nullcontext()


def _block_stats(x8: np.ndarray, *, params: EventParams) -> FrameStats:
    """Measures of frames 3.. of a block (M, H, W, 3) uint8; frames 0..2 are context.

    Everything is computed on the whole (M, H, W) stack at once, in float32. The Gaussian
    blurs ("nearest" edges) are linear maps along each image axis, applied as small dense
    matrices (:func:`_blur_matrix`), which BLAS does much faster than a long convolution.
    """
    m, h, w, _ = x8.shape
    assert m >= 4, f"{x8.shape=}"
    planes = np.moveaxis(x8.reshape(m, h * w, 3), 2, 0).copy()  # (3, M, P) contiguous
    luma = sum(LUMA_TABLES[c][planes[c]] for c in range(3)).reshape(m, h, w)  # (M, H, W) float32

    # Colour.
    rgb = (planes.sum(axis=2, dtype=np.int64).T / (255.0 * h * w)).astype(np.float32)  # (M, 3)
    saturation, hue = saturation_hue(planes)  # (M,), (M,)
    hist = soft_histogram(planes)  # (M, 64)

    # Motion: the raw luma difference, and blurred, noise-gated difference images D at
    # several scales: D_t and D_{t-1} of an object moving v pixels a frame only overlap
    # (correlate) once the blur is about v, so fast motion needs the coarse scales.
    motion = np.abs(np.diff(luma, axis=0)).mean(axis=(1, 2), dtype=np.float32)  # (M-1,)
    fine = params.scales_px[0]
    smooth = blur(luma, fine)
    similarity = correlation(smooth[:-1], smooth[1:])  # (M-1,)
    d = np.diff(smooth, axis=0)  # (M-1, H, W)
    d[np.abs(d) < params.noise] = 0.0  # coding noise goes once, before any coarser blur
    regions = Regions(h, w)
    magnitude = np.abs(d)
    energy = regions.sums(magnitude) / np.float32(h * w)  # (M-1, R)
    imbalance = np.abs(regions.sums(d)) / np.maximum(energy * (h * w), 1e-9)  # (M-1, R)
    motion_x = centroid(magnitude.sum(axis=1))  # (M-1,)
    per_scale: list[tuple[np.ndarray, ...]] = []
    for sigma in params.scales_px:
        extra = float(np.sqrt(max(sigma**2 - fine**2, 0.0)))  # blurs compose in quadrature
        ds = blur(d, extra) if extra > 0 else d
        norm = regions.sums(ds * ds)  # (M-1, R) squared norms, once per image
        per_scale.append((
            *pair_measures(ds[:-1], ds[1:], norm[:-1], norm[1:], regions),  # (M-2, R) coherence, flip_x
            *pair_measures(ds[:-2], ds[2:], norm[:-2], norm[2:], regions),  # (M-3, R) the skip ones
        ))
    coherence, flip_x, coherence_skip, flip_skip_x = (np.stack(v, axis=1) for v in zip(*per_scale))

    # Keep frames 3.. : a measure over k frames ending at frame p sits at index p - k + 1.
    return FrameStats(
        rgb=rgb[3:],
        brightness=luma.mean(axis=(1, 2), dtype=np.float32)[3:],
        saturation=saturation[3:],
        hue=hue[3:],
        hist=hist[3:],
        motion=motion[2:],
        energy=energy[2:],
        imbalance=imbalance[2:],
        motion_x=motion_x[2:],
        coherence=coherence[1:],
        flip_x=flip_x[1:],
        coherence_skip=coherence_skip,
        flip_skip_x=flip_skip_x,
        similarity=similarity[2:],
    )


__all__ = ["EventParams", "VisualEvent", "VisualFeatures", "analyze", "analyze_video"]
