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
  picture structure broke), the brightness rise, and the impact strength below. It is 0
  on repeated frames.

Events (``VisualEvent``), found on distinct frames and then thinned by non-maximum
suppression (one per ``min_gap`` frames, priority flash > cut > impact, then strength):

- cut at frame t (the first frame of the new shot), either
  (a) ``cut_strength`` is the largest within +-2 frames, and above max(``cut_floor``,
  median + ``cut_mads`` * 1.4826 * MAD) over a window of +-``context_s``, and the picture
  structure breaks too (correlation of blurred luma with the previous frame <
  ``cut_similarity``; a lighting change keeps it); or
  (b) the mean chromaticity (mean R, G, B over their sum: colour without brightness)
  steps by a peak above max(``cut_colour_floor``, median + ``cut_mads`` MADs), out of a
  still colour (the 3 steps before < 1/4 of it) and in one frame (the next < 2/3 of it),
  and stays there (the next 3 frames keep >= 0.6 of the step): a new shot of the same
  layout in another light. A fade drifts, a decaying flash or a lit object blinks back.
  In both cases the new frame must not look (histogram, and chromaticity) like a frame
  from the last ``flash_window_s`` (then the picture came back: the end of a flash or a
  brief occlusion).
- flash: a mean-luma rise r_t = Y_t - Y_{t-1} that is the largest within +-2 frames and
  above max(``flash_floor``, median + ``flash_mads`` * 1.4826 * MAD) of |r| over the
  context window. The brightness must fall back by at least half the rise within
  ``flash_window_s``, or the picture keep its structure (correlation of blurred luma with
  the previous frame >= ``flash_similarity``) and its hue (white light adds the same to
  R, G and B, so the saturation-weighted hue turns by <= ``flash_hue`` from before the
  rise to 2 frames after its peak, unless either is unsaturated). Otherwise it is a cut
  to a brighter shot.
  The event is placed where the rise starts (walking back over preceding rises >= 1/4 of
  the peak one).
- impact at frame t, between the differences D_t and D_{t+1}: a change of direction
  between two stretches of coherent motion. With c_u = NCC(D_{u-1}, D_u), the cosine
  similarity of consecutive difference images, the approach is coherent (c_{t-1}, c_t >=
  ``impact_in``), the motion across t stops correlating or reverses (c_{t+1} <=
  ``impact_out``), and the object moves on coherently (c_{t+2} >= ``impact_in``), with
  mean |D| >= ``impact_energy`` throughout. For a ball that bounces, D_{t+1} = -D_t and
  c_{t+1} = -1. D_t and D_{t-1} of an object moving v pixels a frame only overlap once
  blurred by about v, so c is taken at several blurs (``scales_px``), at the one where
  the approach is most coherent. An object entering or leaving the picture, or a change
  of lighting, does not conserve "mass" (|sum D| / sum |D| > ``impact_imbalance``) and is
  not an impact. If the object sits still for one difference at the turn (positions
  symmetric about the wall), D_{t+2} stands in for D_{t+1}. x is the centroid of
  max(0, -D_t D_{t+1}), which lights up where the object turned, i.e. at the wall.
  The test is made on the whole frame and, separately, in overlapping local windows (2 x 2
  blocks of W / 6 pixels, one block apart), so that one object's bounce is not drowned by
  other motion elsewhere (a second object, a throbbing shape, lights); energies stay
  fractions of the whole frame, and a window needs a clear reversal (c_{t+1} <=
  ``impact_out_local``). A shape that throbs in place (grows in one frame, shrinks over
  the next ones) reverses twice, so its "outgoing" motion is not coherent and it is no
  impact; it still makes an ``onset``.

Implementation: frames are processed as (N, H, W) float32 stacks; the Gaussian blurs and
window sums are products with small matrices (BLAS, held to one thread: the products
are many and small), and the colour histograms use table look-ups and one matrix
product per frame.

Limitations: a cut that keeps both the colour and the layout of the picture (only some
objects jump) is missed; an event shorter than one analysis frame can fall between
samples; a camera pan or shake that abruptly reverses reads as an impact (it is one, for the picture); an
object that stops dead (no outgoing motion) is not reported, nor is the bounce of an
object much smaller than ~0.5% of the picture that moves slowly (its mean |D| stays under
``impact_energy``).
"""
from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d, median_filter

from soundtrack.config import VIDEO
from soundtrack.video.decode import Frames, read_frames


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


@dataclass(frozen=True)
class EventParams:
    """Thresholds of the event detectors (luma and histogram distances are in 0..1)."""

    scales_px: tuple[float, ...] = (1.0, 3.0, 9.0)  # Gaussian blurs (analysis pixels), finest first
    noise: float = 2.0 / 255.0  # |D| below this is treated as coding noise
    context_s: float = 1.0  # half-width of the window for the adaptive thresholds
    cut_floor: float = 0.1
    cut_mads: float = 6.0
    cut_similarity: float = 0.5
    cut_colour_floor: float = 0.015  # a step of the mean chromaticity (0..1) that is a cut
    flash_hue: float = 0.04  # a brightness rise that turns the hue more than this is no flash
    flash_floor: float = 0.08
    flash_mads: float = 6.0
    flash_window_s: float = 0.5
    flash_similarity: float = 0.6
    impact_in: float = 0.3
    impact_out: float = 0.0
    impact_out_local: float = -0.3  # the same in a local window: a clear reversal
    impact_energy: float = 0.001
    impact_imbalance: float = 0.35
    min_gap: int = 3  # non-maximum suppression, in analysis frames
    onset_window_s: float = 0.5  # motion onsets are rises above the median of this past
    onset_motion: float = 0.1  # a motion rise (mean |dY|) that counts as a full onset


@dataclass(frozen=True)
class _Stats:
    """Measures of the U distinct frames, in order (temporal ones against the previous)."""

    rgb: np.ndarray  # (U, 3)
    brightness: np.ndarray  # (U,)
    saturation: np.ndarray  # (U,)
    hue: np.ndarray  # (U,)
    hist: np.ndarray  # (U, 64) normalised RGB histograms
    motion: np.ndarray  # (U,) mean |Y_u - Y_{u-1}|
    energy: np.ndarray  # (U, R) sum |D_u| in each region / pixels of the frame (noise-gated)
    imbalance: np.ndarray  # (U, R) |sum D_u| / sum |D_u| per region: 0 when what leaves arrives
    motion_x: np.ndarray  # (U,) centroid of |D_u|
    coherence: np.ndarray  # (U, S, R) NCC(D_{u-1}, D_u) at each blur scale, in each region
    flip_x: np.ndarray  # (U, S, R) centroid of max(0, -D_{u-1} D_u) in each region
    coherence_skip: np.ndarray  # (U, S, R) NCC(D_{u-2}, D_u), across a still frame u - 1
    flip_skip_x: np.ndarray  # (U, S, R) centroid of max(0, -D_{u-2} D_u)
    similarity: np.ndarray  # (U,) correlation of blurred luma u-1 vs u


_Candidate = tuple[int, str, float, float]  # (distinct frame index, type, x, strength)


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
    cut_strength = _tv_distance(stats.hist)  # (U,)

    # 3. Events on the distinct frames, placed at analysis frames, thinned by NMS.
    rate = frames.fps * first.shape[0] / n  # distinct frames per second, for time windows
    impact, impact_x = _impact_scores(stats, params=params)  # (U,), (U,)
    candidates = (
        _cuts(stats, cut_strength, rate=rate, params=params)
        + _flashes(stats, rate=rate, params=params)
        + [(int(u), "impact", float(impact_x[u]), float(impact[u])) for u in np.flatnonzero(impact > 0)]
    )
    kept = _suppress([(int(first[u]), kind, x, s) for u, kind, x, s in candidates], gap=params.min_gap)
    events = [VisualEvent(time=float(frames.times[k]), type=kind, x=x, strength=s) for k, kind, x, s in kept]

    # 4. Spike-like measures are 0 on repeated frames (else a cut would show twice).
    onset = np.zeros(n, dtype=np.float32)
    onset[first] = _onset(stats, cut_strength, impact, rate=rate, params=params)
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
) -> _Stats:
    """Measures of images[first] in blocks of `block` frames (bounded temporaries).

    Each block carries the three distinct frames before it, which the temporal measures
    need; before the start the first frame is repeated, so frame 0 has no motion.
    """
    u_total = first.shape[0]
    parts: list[_Stats] = []
    with _single_threaded_blas():
        for a in range(0, u_total, block):
            b = min(a + block, u_total)
            index = first[np.clip(np.arange(a - 3, b), 0, None)]  # (b - a + 3,)
            parts.append(_block_stats(images[index], params=params))
    merged = {
        name: np.concatenate([getattr(p, name) for p in parts], axis=0)
        for name in _Stats.__dataclass_fields__
    }
    stats = _Stats(**merged)
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


def _block_stats(x8: np.ndarray, *, params: EventParams) -> _Stats:
    """Measures of frames 3.. of a block (M, H, W, 3) uint8; frames 0..2 are context.

    Everything is computed on the whole (M, H, W) stack at once, in float32. The Gaussian
    blurs ("nearest" edges) are linear maps along each image axis, applied as small dense
    matrices (:func:`_blur_matrix`), which BLAS does much faster than a long convolution.
    """
    m, h, w, _ = x8.shape
    assert m >= 4, f"{x8.shape=}"
    planes = np.moveaxis(x8.reshape(m, h * w, 3), 2, 0).copy()  # (3, M, P) contiguous
    luma = sum(_LUMA_TABLES[c][planes[c]] for c in range(3)).reshape(m, h, w)  # (M, H, W) float32

    # Colour.
    rgb = (planes.sum(axis=2, dtype=np.int64).T / (255.0 * h * w)).astype(np.float32)  # (M, 3)
    saturation, hue = _saturation_hue(planes)  # (M,), (M,)
    hist = _soft_histogram(planes)  # (M, 64)

    # Motion: the raw luma difference, and blurred, noise-gated difference images D at
    # several scales: D_t and D_{t-1} of an object moving v pixels a frame only overlap
    # (correlate) once the blur is about v, so fast motion needs the coarse scales.
    motion = np.abs(np.diff(luma, axis=0)).mean(axis=(1, 2), dtype=np.float32)  # (M-1,)
    fine = params.scales_px[0]
    smooth = _blur(luma, fine)
    similarity = _correlation(smooth[:-1], smooth[1:])  # (M-1,)
    d = np.diff(smooth, axis=0)  # (M-1, H, W)
    d[np.abs(d) < params.noise] = 0.0  # coding noise goes once, before any coarser blur
    regions = _Regions(h, w)
    magnitude = np.abs(d)
    energy = regions.sums(magnitude) / np.float32(h * w)  # (M-1, R)
    imbalance = np.abs(regions.sums(d)) / np.maximum(energy * (h * w), 1e-9)  # (M-1, R)
    motion_x = _centroid(magnitude.sum(axis=1))  # (M-1,)
    per_scale: list[tuple[np.ndarray, ...]] = []
    for sigma in params.scales_px:
        extra = float(np.sqrt(max(sigma**2 - fine**2, 0.0)))  # blurs compose in quadrature
        ds = _blur(d, extra) if extra > 0 else d
        norm = regions.sums(ds * ds)  # (M-1, R) squared norms, once per image
        per_scale.append((
            *_pair_measures(ds[:-1], ds[1:], norm[:-1], norm[1:], regions),  # (M-2, R) coherence, flip_x
            *_pair_measures(ds[:-2], ds[2:], norm[:-2], norm[2:], regions),  # (M-3, R) the skip ones
        ))
    coherence, flip_x, coherence_skip, flip_skip_x = (np.stack(v, axis=1) for v in zip(*per_scale))

    # Keep frames 3.. : a measure over k frames ending at frame p sits at index p - k + 1.
    return _Stats(
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


_LUMA_TABLES = (  # BT.601 luma weight times each uint8 value / 255, per channel
    np.outer([0.299, 0.587, 0.114], np.arange(256) / 255.0).astype(np.float32)
)


@functools.lru_cache(maxsize=32)
def _blur_matrix(n: int, sigma: float) -> np.ndarray:
    """(n, n) float32 K with K @ v = gaussian_filter1d(v, sigma, mode="nearest")."""
    return gaussian_filter1d(np.eye(n), sigma, axis=0, mode="nearest").astype(np.float32)


def _blur(images: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (sigma pixels, "nearest" edges) of each (H, W) image of a (K, H, W) stack."""
    k, h, w = images.shape
    across = (images.reshape(k * h, w) @ _blur_matrix(w, sigma).T).reshape(k, h, w)  # along W
    return np.matmul(_blur_matrix(h, sigma), across)  # along H


class _Regions:
    """The whole frame (region 0) and overlapping local windows of an (H, W) image: 2 x 2
    blocks of about W / 6 pixels, one block apart, so that any compact object lies wholly
    in some window. Region sums of (K, H, W) stacks are two small matrix products."""

    def __init__(self, h: int, w: int) -> None:
        size = max(4, round(w / 6))
        self.rows, self.cols = self._indicator(h, size), self._indicator(w, size)  # (1 + nh, H), (1 + nw, W)
        self.xs = (np.arange(w, dtype=np.float32) + 0.5) / w  # (W,) horizontal position, 0..1

    @staticmethod
    def _indicator(n: int, size: int) -> np.ndarray:
        """(1 + windows, n) 0/1 rows: all of 0..n-1, then each window of two blocks."""
        starts = np.arange(0, n, size)
        spans = [(a, a + 2 * size) for a in starts[:-1]] or [(0, n)]
        out = np.zeros((1 + len(spans), n), dtype=np.float32)
        out[0] = 1.0
        for i, (a, b) in enumerate(spans):
            out[1 + i, a:b] = 1.0
        return out

    def sums(self, images: np.ndarray) -> np.ndarray:
        """(K, R) sums of (K, H, W) images over the whole frame and each window."""
        k, h, w = images.shape
        across = (images.reshape(k * h, w) @ self.cols.T).reshape(k, h, -1)  # (K, H, 1 + nw)
        table = np.matmul(self.rows, across)  # (K, 1 + nh, 1 + nw)
        return np.concatenate([table[:, 0, :1], table[:, 1:, 1:].reshape(k, -1)], axis=1)


def _pair_measures(
    a: np.ndarray, b: np.ndarray, norm_a: np.ndarray, norm_b: np.ndarray, regions: _Regions
) -> tuple[np.ndarray, np.ndarray]:
    """(K, R) cosine similarity of matching (K, H, W) images a, b in each region (0 where
    either is empty) and the horizontal centroid of max(0, -a b) (where they have opposite
    signs; 0.5 where none), given their (K, R) squared norms."""
    prod = a * b  # (K, H, W)
    num = regions.sums(prod)
    den = np.sqrt(norm_a * norm_b)
    cosine = np.where(den > 1e-9, num / np.maximum(den, 1e-9), 0.0).astype(np.float32)
    flip = np.maximum(-prod, 0.0)
    weight = regions.sums(flip)
    moment = regions.sums(flip * regions.xs)
    where = np.where(weight > 1e-6, moment / np.maximum(weight, 1e-6), 0.5).astype(np.float32)
    return cosine, where


def _level_weights(levels: int) -> np.ndarray:
    """(256, levels) float32: the soft-bin weights of each uint8 value (trilinear binning:
    the two nearest levels share the count, in proportion to closeness)."""
    value = np.arange(256, dtype=np.float32) * np.float32(1.0 / 255.0)
    pos = np.clip(value * levels - 0.5, 0.0, levels - 1.0)
    low = np.minimum(np.floor(pos), levels - 2).astype(np.intp)
    frac = pos - low  # weight of the upper level
    table = np.zeros((256, levels), dtype=np.float32)
    table[np.arange(256), low] = 1.0 - frac
    table[np.arange(256), low + 1] += frac
    return table


@functools.lru_cache(maxsize=4)
def _bin_tables(levels: int) -> tuple[np.ndarray, np.ndarray]:
    """(256, L) weights of one channel, and (65536, L * L) joint weights of an (R, G) pair
    indexed by 256 R + G (their outer product)."""
    one = _level_weights(levels)
    pair = (one[:, None, :, None] * one[None, :, None, :]).reshape(256 * 256, levels * levels)
    return one, pair


def _soft_histogram(planes: np.ndarray, *, levels: int = 4, chunk: int = 8) -> np.ndarray:
    """(M, levels**3) RGB histograms of (3, M, P) uint8 colour planes, each summing to 1.

    Soft (trilinear) binning: a pixel splits its count between the two nearest levels of
    each channel, so a small uniform brightness shift moves little mass (hard bins would
    move every pixel near a bin edge at once). The histogram of a frame is
    sum_p w(R_p) (x) w(G_p) (x) w(B_p): the (R, G) weights come from one table look-up
    per pixel, and the sum over pixels against the B weights is a matrix product.
    """
    _, m, p = planes.shape
    one, pair = _bin_tables(levels)
    rg_index = (planes[0].astype(np.intp) << 8) | planes[1]  # (M, P)
    b_weights = np.take(one, planes[2], axis=0)  # (M, P, L)
    hist = np.empty((m, levels * levels, levels), dtype=np.float32)
    for a in range(0, m, chunk):  # chunks of frames keep the (m', P, L * L) weights in cache
        rg_weights = np.take(pair, rg_index[a : a + chunk], axis=0)  # (m', P, L * L)
        hist[a : a + chunk] = np.matmul(rg_weights.transpose(0, 2, 1), b_weights[a : a + chunk])
    return hist.reshape(m, levels**3) / np.float32(p)


def _saturation_hue(planes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean HSV saturation and saturation-weighted circular mean hue (0..1) of (3, M, P)
    uint8 colour planes."""
    r, g, b = planes
    high = np.maximum(np.maximum(r, g), b)  # (M, P) uint8
    chroma = high - np.minimum(np.minimum(r, g), b)  # (M, P) uint8
    # Hue sector 0..6: (G - B) / C (mod 6) where R is the (first) largest, (B - R) / C + 2
    # where G is, (R - G) / C + 4 where B is.
    top_r = r == high
    top_g = (g == high) & ~top_r
    r16, g16, b16 = (c.astype(np.int16) for c in planes)
    num = np.where(top_r, g16 - b16, np.where(top_g, b16 - r16, r16 - g16))
    offset = np.where(top_r, np.float32(0.0), np.where(top_g, np.float32(2.0), np.float32(4.0)))
    sector = num / np.maximum(chroma, 1).astype(np.float32) + offset
    sector[sector < 0] += np.float32(6.0)
    angle = sector * np.float32(np.pi / 3.0)  # (M, P) radians
    sat = chroma / np.maximum(high, 1).astype(np.float32)  # 0 where high = 0 (then chroma = 0)
    cos_sum = np.einsum("kp,kp->k", sat, np.cos(angle), dtype=np.float64)
    sin_sum = np.einsum("kp,kp->k", sat, np.sin(angle), dtype=np.float64)
    hue = np.mod(np.arctan2(sin_sum, cos_sum) / (2 * np.pi), 1.0)
    sat_sum = sat.sum(axis=1, dtype=np.float64)
    hue = np.where(sat_sum > 1e-6, hue, 0.0)
    return (sat_sum / r.shape[1]).astype(np.float32), hue.astype(np.float32)


def _centroid(profile: np.ndarray) -> np.ndarray:
    """Centroid in 0..1 of each row of non-negative (K, W) column sums; 0.5 if empty."""
    w = profile.shape[1]
    xs = (np.arange(w, dtype=np.float32) + 0.5) / w
    total = profile.sum(axis=1)
    return np.where(total > 1e-6, (profile @ xs) / np.maximum(total, 1e-6), 0.5).astype(np.float32)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching (K, H, W) images; 0 where either is empty."""
    num = (a * b).sum(axis=(1, 2))
    den = np.sqrt((a * a).sum(axis=(1, 2)) * (b * b).sum(axis=(1, 2)))
    return np.where(den > 1e-9, num / np.maximum(den, 1e-9), 0.0).astype(np.float32)


def _correlation(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching (K, H, W) images (their structure); 0 if flat."""
    return _cosine(a - a.mean(axis=(1, 2), keepdims=True), b - b.mean(axis=(1, 2), keepdims=True))


def _tv_distance(hist: np.ndarray) -> np.ndarray:
    """(U,) total-variation distance of each histogram (U, 64) to the previous; 0 first."""
    out = np.zeros(hist.shape[0], dtype=np.float32)
    out[1:] = 0.5 * np.abs(np.diff(hist, axis=0)).sum(axis=1)
    return out


def _threshold(values: np.ndarray, *, width: int, mads: float, floor: float) -> np.ndarray:
    """max(floor, local median + mads * 1.4826 * local MAD) over a centred window."""
    med = median_filter(values, size=width, mode="nearest")
    mad = median_filter(np.abs(values - med), size=width, mode="nearest")
    return np.maximum(floor, med + mads * 1.4826 * mad)


def _is_peak(values: np.ndarray, u: int, *, radius: int = 2) -> bool:
    """values[u] is the (first) largest within +-radius."""
    lo, hi = max(0, u - radius), min(values.shape[0], u + radius + 1)
    return values[u] >= values[lo:hi].max() and values[u] > values[lo:u].max(initial=-np.inf)


def _chromaticity(rgb: np.ndarray) -> np.ndarray:
    """(U, 3) chromaticity r, g, b / (r + g + b) of the mean colours (brightness removed)."""
    return rgb / np.maximum(rgb.sum(axis=1, keepdims=True), 1e-6)


def _cuts(stats: _Stats, strength: np.ndarray, *, rate: float, params: EventParams) -> list[_Candidate]:
    """Cuts: a histogram jump where the picture structure breaks, or a step of the mean
    chromaticity (the light of the whole picture changes colour at once); in both cases
    the new picture must not be one seen just before."""
    width = 2 * max(1, round(params.context_s * rate)) + 1
    thr = _threshold(strength, width=width, mads=params.cut_mads, floor=params.cut_floor)
    chroma = _chromaticity(stats.rgb)
    step = np.zeros_like(strength)
    step[1:] = 0.5 * np.abs(np.diff(chroma, axis=0)).sum(axis=1)  # (U,) 0..1
    step_thr = _threshold(step, width=width, mads=params.cut_mads, floor=params.cut_colour_floor)
    lookback = max(2, round(params.flash_window_s * rate))
    structural = (strength >= thr) & (stats.similarity < params.cut_similarity)
    # A colour step is a cut if it comes out of a still colour and is over in one frame (not
    # a fade or a decaying flash, which drift for several) and it lasts (not a light that
    # blinks on and fades, as a lit object does).
    sharp = np.zeros(step.shape[0], dtype=bool)
    lasting = np.zeros(step.shape[0], dtype=bool)
    for u in np.flatnonzero(step >= step_thr):
        before = step[max(1, u - 3) : u]
        after = step[u + 1 : u + 2]
        sharp[u] = 4.0 * before.max(initial=0.0) < step[u] and 1.5 * after.max(initial=0.0) < step[u]
        later = chroma[u + 1 : u + 4]
        kept = 0.5 * np.abs(later - chroma[u - 1]).sum(axis=1)  # distance from the old colour
        lasting[u] = later.size == 0 or kept.min() >= 0.6 * step[u]
    coloured = (step >= step_thr) & sharp & lasting
    found: list[_Candidate] = []
    for u in np.flatnonzero(structural | coloured):
        if not ((structural[u] and _is_peak(strength, u)) or (coloured[u] and _is_peak(step, u))):
            continue
        lo, hi = max(0, u - lookback), max(0, u - 1)  # frames before u - 1
        earlier = stats.hist[lo:hi]
        if earlier.size and (0.5 * np.abs(earlier - stats.hist[u]).sum(axis=1)).min() < 0.5 * strength[u]:
            continue  # the picture came back: end of a flash, not a new shot
        if hi > lo and (0.5 * np.abs(chroma[lo:hi] - chroma[u]).sum(axis=1)).min() < 0.5 * step[u]:
            continue  # so did its colour
        colour_strength = step[u] / (4 * params.cut_colour_floor)
        found.append((int(u), "cut", 0.5, float(min(1.0, max(strength[u], colour_strength)))))
    return found


def _flashes(stats: _Stats, *, rate: float, params: EventParams) -> list[_Candidate]:
    y = stats.brightness
    rise = np.zeros_like(y)
    rise[1:] = np.diff(y)
    width = 2 * max(1, round(params.context_s * rate)) + 1
    thr = _threshold(np.abs(rise), width=width, mads=params.flash_mads, floor=params.flash_floor)
    window = max(2, round(params.flash_window_s * rate))
    found: list[_Candidate] = []
    for u in np.flatnonzero(rise >= thr):
        if not _is_peak(rise, u):
            continue
        start = u
        while start > 1 and rise[start - 1] >= 0.25 * rise[u]:
            start -= 1
        base = y[start - 1]
        peak = y[u : u + 3].max()
        after = y[u + 1 : u + 1 + window]
        falls_back = after.size > 0 and after.min() <= base + 0.5 * (peak - base)
        # Light added to a scene keeps its structure and its hue (white light adds the same
        # to R, G and B); a cut to a brighter shot of the same place turns the hue.
        later = min(u + 2, y.shape[0] - 1)
        turn = abs(float(stats.hue[later] - stats.hue[start - 1]))
        turn = min(turn, 1.0 - turn)  # circular
        coloured = min(stats.saturation[later], stats.saturation[start - 1]) >= 0.05
        same_hue = not (coloured and turn > params.flash_hue)
        same_scene = stats.similarity[u] >= params.flash_similarity and same_hue
        if falls_back or same_scene:
            strength = min(1.0, (peak - base) / 0.5)  # full strength at half the luma range
            found.append((int(start), "flash", 0.5, float(strength)))
    return found


def _impact_scores(stats: _Stats, *, params: EventParams) -> tuple[np.ndarray, np.ndarray]:
    """(U,) impact strength (0 where there is none) and (U,) its x: a change of direction
    between two stretches of coherent motion, in the whole frame or in a local window
    (the strongest one counts).

    At distinct frame j, in region r, with coherence[u] = NCC(D_{u-1}, D_u) at one blur
    scale s (the one at which the incoming motion is most coherent):
    before: coherence[j - 1] and coherence[j] >= ``impact_in`` (steady approach);
    across:  c_out = coherence[j + 1] = NCC(D_j, D_{j+1}) <= ``impact_out`` (whole frame)
             or ``impact_out_local`` (a window);
    after:   coherence[j + 2] >= ``impact_in`` (the object moves on, coherently).
    The "after" test, and the mass balance of D_j and the outgoing difference (what
    leaves a place arrives elsewhere: |sum D| / sum |D| <= ``impact_imbalance``), keep an
    object that leaves the picture (or appears in it), or a lighting change, from
    reading as an impact. When the object sits still for one difference at the turn
    (D_{j+1} ~ 0, e.g. positions symmetric about the wall), D_{j+2} stands in for D_{j+1}.
    """
    u_total, regions = stats.energy.shape
    floor = params.impact_energy
    coherent = params.impact_in
    strength = np.zeros(u_total, dtype=np.float32)
    where = np.full(u_total, 0.5, dtype=np.float32)
    every = np.arange(regions)
    for j in range(2, u_total - 2):
        approach = np.minimum(stats.coherence[j - 1], stats.coherence[j])  # (S, R)
        s = np.argmax(approach, axis=0)  # (R,) the scale of the most coherent approach
        ok = (approach[s, every] >= coherent) & (np.minimum(stats.energy[j - 1], stats.energy[j]) >= floor)
        if not ok.any():
            continue
        direct = stats.energy[j + 1] >= floor  # else the object sits still for one difference
        skip = ~direct & (stats.energy[min(j + 2, u_total - 1)] >= floor) & (j + 3 < u_total)
        ok &= direct | skip
        if not ok.any():
            continue  # the motion faded or stopped: no reversal to see
        out = np.where(direct, j + 1, j + 2)  # (R,)
        c_out = np.where(direct, stats.coherence[j + 1, s, every],
                         stats.coherence_skip[min(j + 2, u_total - 1), s, every])  # fmt: skip
        x = np.where(direct, stats.flip_x[j + 1, s, every],
                     stats.flip_skip_x[min(j + 2, u_total - 1), s, every])  # fmt: skip
        after = np.minimum(out + 1, u_total - 1)
        moves_on = (stats.coherence[after, s, every] >= coherent) & (stats.energy[after, every] >= floor)
        stays_in = np.maximum(stats.imbalance[j], stats.imbalance[out, every]) <= params.impact_imbalance
        reverses = c_out <= np.where(every == 0, params.impact_out, params.impact_out_local)
        ok &= reverses & moves_on & stays_in & (out + 1 < u_total)
        if not ok.any():
            continue
        drop = np.clip((approach[s, every] - c_out) / 2.0, 0.0, 1.0)
        gate = np.minimum(1.0, np.minimum(stats.energy[j], stats.energy[out, every]) / (4.0 * floor))
        score = np.where(ok, drop * gate, 0.0)
        r = int(np.argmax(score))
        strength[j], where[j] = score[r], x[r]
    return strength, where


def _suppress(candidates: list[_Candidate], *, gap: int) -> list[_Candidate]:
    """Greedy non-maximum suppression: flash > cut > impact, then by strength.

    A flash also changes the colour histogram; the flash test (transient, or same
    picture) is the more specific one, so it wins over a cut at the same moment.
    """
    priority = {"flash": 0, "cut": 1, "impact": 2}
    kept: list[_Candidate] = []
    for cand in sorted(candidates, key=lambda c: (priority[c[1]], -c[3], c[0])):
        if all(abs(cand[0] - k[0]) >= gap for k in kept):
            kept.append(cand)
    return sorted(kept)


def _onset(
    stats: _Stats, cut_strength: np.ndarray, impact: np.ndarray, *, rate: float, params: EventParams
) -> np.ndarray:
    """(U,) visual onset envelope in 0..1: the largest of four cues, each scaled to 0..1.

    motion: rise of ``motion`` above its median over the past ``onset_window_s``, full at
    ``onset_motion``; cut: histogram jump above its local median, full at 2 * ``cut_floor``,
    times how much the picture structure broke (1 - similarity, full at 1 -
    ``cut_similarity``), so fades, dissolves and flicker stay low; flash: brightness rise,
    full at 2 * ``flash_floor``; impact: the impact strength.
    """
    u_total = stats.motion.shape[0]
    past = max(1, round(params.onset_window_s * rate))
    start = float(np.median(stats.motion[1 : past + 1])) if u_total > 1 else 0.0
    padded = np.concatenate([np.full(past, start, dtype=np.float32), stats.motion])  # no onset at t = 0
    baseline = np.median(np.lib.stride_tricks.sliding_window_view(padded, past)[:-1], axis=1)  # (U,)
    motion_term = (stats.motion - baseline) / params.onset_motion
    width = 2 * max(1, round(params.context_s * rate)) + 1
    jump = (cut_strength - median_filter(cut_strength, size=width, mode="nearest")) / (2 * params.cut_floor)
    broken = np.clip((1.0 - stats.similarity) / (1.0 - params.cut_similarity), 0.0, 1.0)  # new picture
    cut_term = jump * broken
    flash_term = np.zeros(u_total, dtype=np.float32)
    flash_term[1:] = np.diff(stats.brightness) / (2.0 * params.flash_floor)
    onset = np.max(np.stack([motion_term, cut_term, flash_term, impact]), axis=0)
    assert onset.shape == (u_total,), f"{onset.shape=}"
    return np.clip(onset, 0.0, 1.0).astype(np.float32)
