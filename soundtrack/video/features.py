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

- cut at frame t (the first frame of the new shot): ``cut_strength`` is the largest within
  +-2 frames, and above max(``cut_floor``, median + ``cut_mads`` * 1.4826 * MAD) over a
  window of +-``context_s``; the picture structure breaks too (correlation of blurred luma
  with the previous frame < ``cut_similarity``; a lighting change keeps it). The new frame
  must not look like a frame from the last ``flash_window_s`` (then the picture came
  back: the end of a flash or a brief occlusion).
- flash: a mean-luma rise r_t = Y_t - Y_{t-1} that is the largest within +-2 frames and
  above max(``flash_floor``, median + ``flash_mads`` * 1.4826 * MAD) of |r| over the
  context window. The brightness must fall back by at least half the rise within
  ``flash_window_s``, or the picture keep its structure (correlation of blurred luma with
  the previous frame >= ``flash_similarity``); otherwise it is a cut to a brighter shot.
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

Limitations: an event shorter than one analysis frame can fall between samples; a camera
pan or shake that abruptly reverses reads as an impact (it is one, for the picture); an
object that stops dead (no outgoing motion) is not reported, nor is the bounce of an
object much smaller than ~0.5% of the picture that moves slowly (its mean |D| stays under
``impact_energy``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter, median_filter

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
    flash_floor: float = 0.08
    flash_mads: float = 6.0
    flash_window_s: float = 0.5
    flash_similarity: float = 0.6
    impact_in: float = 0.3
    impact_out: float = 0.0
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
    energy: np.ndarray  # (U,) mean |D_u| after blur and noise gate
    imbalance: np.ndarray  # (U,) |sum D_u| / sum |D_u|: 0 when what leaves also arrives
    motion_x: np.ndarray  # (U,) centroid of |D_u|
    coherence: np.ndarray  # (U, S) NCC(D_{u-1}, D_u) at each blur scale
    flip_x: np.ndarray  # (U, S) centroid of max(0, -D_{u-1} D_u)
    coherence_skip: np.ndarray  # (U, S) NCC(D_{u-2}, D_u), across a still frame u - 1
    flip_skip_x: np.ndarray  # (U, S) centroid of max(0, -D_{u-2} D_u)
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
    repeat = np.zeros(n, dtype=bool)
    for k in range(1, n):
        repeat[k] = np.array_equal(images[k], images[k - 1])
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


def _block_stats(x8: np.ndarray, *, params: EventParams) -> _Stats:
    """Measures of frames 3.. of a block (M, H, W, 3) uint8; frames 0..2 are context."""
    m, h, w, _ = x8.shape
    assert m >= 4, f"{x8.shape=}"
    x = x8.astype(np.float32) * np.float32(1.0 / 255.0)  # (M, H, W, 3)
    luma = x @ np.array([0.299, 0.587, 0.114], dtype=np.float32)  # (M, H, W)

    # Colour.
    rgb = x.mean(axis=(1, 2))  # (M, 3)
    saturation, hue = _saturation_hue(x)  # (M,), (M,)
    hist = _soft_histogram(x)  # (M, 64)

    # Motion: the raw luma difference, and blurred, noise-gated difference images D at
    # several scales: D_t and D_{t-1} of an object moving v pixels a frame only overlap
    # (correlate) once the blur is about v, so fast motion needs the coarse scales.
    motion = np.abs(np.diff(luma, axis=0)).mean(axis=(1, 2))  # (M-1,)
    fine = params.scales_px[0]
    smooth = gaussian_filter(luma, sigma=(0, fine, fine), mode="nearest")
    similarity = _correlation(smooth[:-1], smooth[1:])  # (M-1,)
    d = np.diff(smooth, axis=0)  # (M-1, H, W)
    d[np.abs(d) < params.noise] = 0.0  # coding noise goes once, before any coarser blur
    energy = np.abs(d).mean(axis=(1, 2))  # (M-1,)
    imbalance = np.abs(d.mean(axis=(1, 2))) / np.maximum(energy, 1e-9)  # (M-1,)
    motion_x = _centroid(np.abs(d).sum(axis=1))  # (M-1,)
    per_scale: list[tuple[np.ndarray, ...]] = []
    for sigma in params.scales_px:
        extra = float(np.sqrt(max(sigma**2 - fine**2, 0.0)))  # blurs compose in quadrature
        ds = gaussian_filter(d, sigma=(0, extra, extra), mode="nearest") if extra > 0 else d
        per_scale.append((
            _cosine(ds[:-1], ds[1:]),  # (M-2,) coherence
            _centroid(np.maximum(0.0, -ds[:-1] * ds[1:]).sum(axis=1)),  # (M-2,) flip_x
            _cosine(ds[:-2], ds[2:]),  # (M-3,) coherence_skip
            _centroid(np.maximum(0.0, -ds[:-2] * ds[2:]).sum(axis=1)),  # (M-3,) flip_skip_x
        ))
    coherence, flip_x, coherence_skip, flip_skip_x = (np.stack(v, axis=1) for v in zip(*per_scale))

    # Keep frames 3.. : a measure over k frames ending at frame p sits at index p - k + 1.
    return _Stats(
        rgb=rgb[3:],
        brightness=luma.mean(axis=(1, 2))[3:],
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


def _soft_histogram(x: np.ndarray, *, levels: int = 4) -> np.ndarray:
    """(M, levels**3) RGB histograms of (M, H, W, 3) frames in 0..1, each summing to 1.

    Soft (trilinear) binning: a pixel splits its count between the two nearest levels of
    each channel, so a small uniform brightness shift moves little mass (hard bins would
    move every pixel near a bin edge at once).
    """
    m, h, w, _ = x.shape
    pos = np.clip(x * levels - 0.5, 0.0, levels - 1.0)  # (M, H, W, 3) in bin units
    low = np.minimum(np.floor(pos), levels - 2).astype(np.int64)
    frac = pos - low  # weight of the upper bin
    offset = (levels**3 * np.arange(m))[:, None, None]
    hist = np.zeros(levels**3 * m, dtype=np.float64)
    for corner in range(8):  # the 2 x 2 x 2 neighbouring bins of every pixel
        index = offset
        weight = np.ones((m, h, w), dtype=np.float32)
        for c in range(3):
            up = (corner >> c) & 1
            index = index + (low[..., c] + up) * levels ** (2 - c)
            weight = weight * (frac[..., c] if up else 1.0 - frac[..., c])
        hist += np.bincount(index.ravel(), weights=weight.ravel(), minlength=hist.size)
    return (hist.reshape(m, levels**3) / (h * w)).astype(np.float32)


def _saturation_hue(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean HSV saturation and saturation-weighted circular mean hue (0..1) of (M, H, W, 3)."""
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    high = x.max(axis=-1)
    chroma = high - x.min(axis=-1)  # (M, H, W)
    sat = np.where(high > 0, chroma / np.maximum(high, 1e-6), 0.0)
    c = np.maximum(chroma, 1e-6)
    sector = np.select(
        [high == r, high == g],
        [np.mod((g - b) / c, 6.0), (b - r) / c + 2.0],
        (r - g) / c + 4.0,
    )
    angle = sector * (np.pi / 3.0)  # (M, H, W) radians
    cos_sum = (sat * np.cos(angle)).sum(axis=(1, 2))
    sin_sum = (sat * np.sin(angle)).sum(axis=(1, 2))
    hue = np.mod(np.arctan2(sin_sum, cos_sum) / (2 * np.pi), 1.0)
    hue = np.where(sat.sum(axis=(1, 2)) > 1e-6, hue, 0.0)
    return sat.mean(axis=(1, 2)).astype(np.float32), hue.astype(np.float32)


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


def _cuts(stats: _Stats, strength: np.ndarray, *, rate: float, params: EventParams) -> list[_Candidate]:
    width = 2 * max(1, round(params.context_s * rate)) + 1
    thr = _threshold(strength, width=width, mads=params.cut_mads, floor=params.cut_floor)
    lookback = max(2, round(params.flash_window_s * rate))
    found: list[_Candidate] = []
    for u in np.flatnonzero((strength >= thr) & (stats.similarity < params.cut_similarity)):
        if not _is_peak(strength, u):
            continue
        earlier = stats.hist[max(0, u - lookback) : max(0, u - 1)]  # frames before u - 1
        if earlier.size and (0.5 * np.abs(earlier - stats.hist[u]).sum(axis=1)).min() < 0.5 * strength[u]:
            continue  # the picture came back: end of a flash, not a new shot
        found.append((int(u), "cut", 0.5, float(min(1.0, strength[u]))))
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
        same_scene = stats.similarity[u] >= params.flash_similarity
        if falls_back or same_scene:
            strength = min(1.0, (peak - base) / 0.5)  # full strength at half the luma range
            found.append((int(start), "flash", 0.5, float(strength)))
    return found


def _impact_scores(stats: _Stats, *, params: EventParams) -> tuple[np.ndarray, np.ndarray]:
    """(U,) impact strength (0 where there is none) and (U,) its x: a change of direction
    between two stretches of coherent motion.

    At distinct frame j, with coherence[u] = NCC(D_{u-1}, D_u) at one blur scale s (the
    one at which the incoming motion is most coherent):
    before: coherence[j - 1] and coherence[j] >= ``impact_in`` (steady approach);
    across:  c_out = coherence[j + 1] = NCC(D_j, D_{j+1}) <= ``impact_out``;
    after:   coherence[j + 2] >= ``impact_in`` (the object moves on, coherently).
    The "after" test, and the mass balance of D_j and the outgoing difference (what
    leaves a place arrives elsewhere: |sum D| / sum |D| <= ``impact_imbalance``), keep an
    object that leaves the picture (or appears in it), or a lighting change, from
    reading as an impact. When the object sits still for one difference at the turn
    (D_{j+1} ~ 0, e.g. positions symmetric about the wall), D_{j+2} stands in for D_{j+1}.
    """
    u_total = stats.energy.shape[0]
    floor = params.impact_energy
    coherent = params.impact_in
    strength = np.zeros(u_total, dtype=np.float32)
    where = np.full(u_total, 0.5, dtype=np.float32)
    for j in range(2, u_total - 2):
        approach = np.minimum(stats.coherence[j - 1], stats.coherence[j])  # (S,)
        s = int(np.argmax(approach))
        if approach[s] < coherent or min(stats.energy[j - 1], stats.energy[j]) < floor:
            continue
        if stats.energy[j + 1] >= floor:
            c_out, out, x = stats.coherence[j + 1, s], j + 1, stats.flip_x[j + 1, s]
        elif j + 3 < u_total and stats.energy[j + 2] >= floor:
            c_out, out, x = stats.coherence_skip[j + 2, s], j + 2, stats.flip_skip_x[j + 2, s]
        else:
            continue  # the motion faded or stopped: no reversal to see
        moves_on = stats.coherence[out + 1, s] >= coherent and stats.energy[out + 1] >= floor
        stays_in = max(stats.imbalance[j], stats.imbalance[out]) <= params.impact_imbalance
        if c_out > params.impact_out or not moves_on or not stays_in:
            continue
        drop = float(np.clip((approach[s] - c_out) / 2.0, 0.0, 1.0))
        gate = float(min(1.0, min(stats.energy[j], stats.energy[out]) / (4.0 * floor)))
        strength[j], where[j] = drop * gate, x
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
