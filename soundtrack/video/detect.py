"""The visual events of footage: cuts, flashes and impacts, found on the per-frame measures of
soundtrack/video/features.py (:class:`FrameStats`), and the onset strength.

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

Limitations: a cut that keeps both the colour and the layout of the picture (only some
objects jump) is missed; an event shorter than one analysis frame can fall between
samples; a camera pan or shake that abruptly reverses reads as an impact (it is one, for the picture); an
object that stops dead (no outgoing motion) is not reported, nor is the bounce of an
object much smaller than ~0.5% of the picture that moves slowly (its mean |D| stays under
``impact_energy``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import median_filter


@dataclass(frozen=True)
class FrameStats:
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


Candidate = tuple[int, str, float, float]  # (distinct frame index, type, x, strength)



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


def find_cuts(stats: FrameStats, strength: np.ndarray, *, rate: float,
              params: EventParams) -> list[Candidate]:
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
    found: list[Candidate] = []
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


def find_flashes(stats: FrameStats, *, rate: float, params: EventParams) -> list[Candidate]:
    y = stats.brightness
    rise = np.zeros_like(y)
    rise[1:] = np.diff(y)
    width = 2 * max(1, round(params.context_s * rate)) + 1
    thr = _threshold(np.abs(rise), width=width, mads=params.flash_mads, floor=params.flash_floor)
    window = max(2, round(params.flash_window_s * rate))
    found: list[Candidate] = []
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


def impact_scores(stats: FrameStats, *, params: EventParams) -> tuple[np.ndarray, np.ndarray]:
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


def suppress(candidates: list[Candidate], *, gap: int) -> list[Candidate]:
    """Greedy non-maximum suppression: flash > cut > impact, then by strength.

    A flash also changes the colour histogram; the flash test (transient, or same
    picture) is the more specific one, so it wins over a cut at the same moment.
    """
    priority = {"flash": 0, "cut": 1, "impact": 2}
    kept: list[Candidate] = []
    for cand in sorted(candidates, key=lambda c: (priority[c[1]], -c[3], c[0])):
        if all(abs(cand[0] - k[0]) >= gap for k in kept):
            kept.append(cand)
    return sorted(kept)


def onset_strength(
    stats: FrameStats, cut_strength: np.ndarray, impact: np.ndarray, *, rate: float, params: EventParams
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


__all__ = ["Candidate", "EventParams", "FrameStats", "find_cuts", "find_flashes", "impact_scores",
           "onset_strength", "suppress"]
