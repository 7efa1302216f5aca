"""Loudness and true peak (BS.1770) and the look-ahead true-peak limiter the mixer uses
(soundtrack/audio/mix.py). Arrays are channel-first, ``(T,)`` mono or ``(C, T)``.

Loudness is BS.1770 integrated loudness (pyloudnorm; clips shorter than one gating block fall
back to mean-square loudness); true peak is the BS.1770 oversampled sample peak (to at least
192 kHz), computed in blocks so long clips stay small in memory. The limiter computes one gain
envelope for a set of signals (:func:`limiter_gain`), so stems limited together still add up
to their limited sum.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import pyloudnorm
from scipy.ndimage import minimum_filter1d
from scipy.signal import resample_poly

LOUDNESS_BLOCK_S = 0.4  # BS.1770 gating block; shorter clips fall back to mean-square loudness
ABSOLUTE_GATE_LUFS = -70.0  # BS.1770 absolute gate: anything quieter counts as silence
TRUE_PEAK_RATE = 192_000  # BS.1770-4: oversample to at least this rate (4x at 48 kHz)
LOOKAHEAD_S = 0.0015  # limiter attack / look-ahead
RELEASE_S = 0.05  # limiter release time constant
_CEILING_MARGIN_DB = 1e-3  # the limiter aims this far under the ceiling: float32 rounding stays below
_PEAK_CHUNK = 1 << 16  # samples oversampled at a time (bounds memory on long clips)
_PEAK_CHUNK_PAD = 32  # context per side, > the resampling filter's half-length (10 samples)
_PEAK_BLOCK = 1024  # blocks that _peak_envelope oversamples or skips as a whole; > _PEAK_CHUNK_PAD


def loudness_lufs(x: np.ndarray, sr: int) -> float:
    """Integrated loudness (BS.1770-4, K-weighted and gated; pyloudnorm) of ``(T,)`` or ``(C, T)``.

    Returns ``-inf`` for silence, i.e. anything under the -70 LUFS absolute gate. Clips
    shorter than one 400 ms gating block cannot be gated; for them this falls back to the
    ungated, unweighted mean-square loudness ``10·log10(Σ_c mean(x_c²))``, which agrees
    with BS.1770 for a 1 kHz tone (where the K-filter's +0.691 dB cancels the -0.691 dB
    offset) and is within about a dB for broadband material.
    """
    x = _as_channels(x)  # (C, T)
    assert x.shape[0] <= 5, f"BS.1770 weights cover at most 5 channels: {x.shape=}"
    if not np.any(x):
        return -math.inf
    if x.shape[1] < LOUDNESS_BLOCK_S * sr:
        lufs = 10.0 * math.log10(float(np.mean(x**2, axis=1).sum()))
    else:
        lufs = float(pyloudnorm.Meter(sr, block_size=LOUDNESS_BLOCK_S).integrated_loudness(x.T))
    return lufs if lufs >= ABSOLUTE_GATE_LUFS else -math.inf


def true_peak_dbtp(x: np.ndarray, sr: int) -> float:
    """True peak in dBTP of ``(T,)`` or ``(C, T)``: the largest absolute value of the signal
    oversampled to at least 192 kHz (4x at 48 kHz, BS.1770-4 Annex 2) by polyphase FIR
    interpolation, over all channels. ``-inf`` for silence."""
    x = _as_channels(x)
    sample_peak = float(np.abs(x).max(initial=0.0))  # no block below it can hold the true peak
    peak = float(_peak_envelope(x, sr=sr, floor=sample_peak).max(initial=0.0))
    return 20.0 * math.log10(peak) if peak > 0.0 else -math.inf


def limiter_gain(
    x: np.ndarray,
    sr: int,
    *,
    ceiling_db: float,
    lookahead_s: float = LOOKAHEAD_S,
    release_s: float = RELEASE_S,
) -> np.ndarray:
    """Gain envelope ``(T,)`` in (0, 1] bringing every oversampled peak of ``x`` to ``ceiling_db``.

    ``x`` is ``(T,)`` or ``(C, T)``; every channel gets the same gain. With p[n] the
    oversampled peak around sample n (max over channels and the interpolated points up to
    the next sample), in dB of gain reduction r ≥ 0:

    1. needed:     r0[n] = max(0, 20·log10 p[n] - ceiling_db)
    2. look-ahead: r1[n] = max(r0[n .. n+L-1]), L = lookahead_s·sr, so the reduction is
       already in place L samples before each peak;
    3. release:    r2[n] = max(r1[n], a·r2[n-1]), a = exp(-1 / (release_s·sr)), an
       exponential recovery; computed without a loop as
       log r2[n] = max_j≤n (log r1[j] - (n-j)/(release_s·sr)), a running maximum;
    4. attack:     g[n] = mean(10^(-r2/20)[n-L+1 .. n]), a linear ramp into each peak.

    Each step only lowers the gain where a peak needs it, and at a peak sample m every term
    of the step-4 mean is ≤ the gain m requires (step 2 covers m from each of them), so
    ``g[m] ≤ 10^(-r0[m]/20)``. Never above 1: the limiter never amplifies.
    """
    x = _as_channels(x)  # (C, T)
    n_samples = x.shape[1]
    if n_samples == 0:
        return np.ones(0)
    lookahead = max(1, int(round(lookahead_s * sr)))
    # exact wherever a peak can reach the ceiling (just under it, so rounding cannot skip one)
    peak = _peak_envelope(x, sr=sr, floor=10.0 ** (ceiling_db / 20.0) * (1.0 - 1e-9))  # (T,)
    with np.errstate(divide="ignore"):
        reduction = np.maximum(0.0, 20.0 * np.log10(peak) - ceiling_db)  # (T,) dB, step 1
        # step 2: running max over [n, n + L - 1] (scipy's origin shifts the window forward)
        reduction = -minimum_filter1d(-reduction, lookahead, mode="nearest", origin=-(lookahead // 2))
        log_r = np.log(reduction)  # -inf where no reduction is needed
    decay = np.arange(n_samples) / (release_s * sr)  # (T,)
    log_r = np.maximum(np.maximum.accumulate(log_r + decay) - decay, log_r)  # step 3 (max: exact at r1)
    gain = 10.0 ** (-np.exp(log_r) / 20.0)  # (T,)
    # step 4; before the start the gain holds its first value, which covers the first L peaks
    return np.minimum(causal_mean(gain, lookahead, initial=float(gain[0])), 1.0)


def limit_true_peak(
    x: np.ndarray,
    sr: int,
    *,
    ceiling_db: float,
    lookahead_s: float = LOOKAHEAD_S,
    release_s: float = RELEASE_S,
) -> np.ndarray:
    """Look-ahead true-peak limiter: ``x`` ``(T,)`` or ``(C, T)`` -> same shape and dtype,
    true peak ≤ ``ceiling_db`` (see :func:`limiter_gain`).

    It aims 0.001 dB under the ceiling, so rounding to float32 cannot cross it, and the
    result is verified: if the time-varying gain let an interpolated peak through (the
    interpolation mixes neighbouring samples that got slightly different gains), a static
    gain trims the whole signal to the ceiling.
    """
    x = np.asarray(x)
    assert np.issubdtype(x.dtype, np.floating), f"{x.dtype=}"
    (y,), _ = limit_together(
        [_as_channels(x)], sr, ceiling_db=ceiling_db, lookahead_s=lookahead_s, release_s=release_s
    )
    return y.reshape(x.shape).astype(x.dtype)


def _as_channels(x: np.ndarray) -> np.ndarray:
    """``(T,)`` or ``(C, T)`` -> ``(C, T)`` float64, finite."""
    x = np.asarray(x, dtype=np.float64)
    assert x.ndim in (1, 2), f"expected (T,) or (C, T), got {x.shape=}"
    if not np.isfinite(x).all():
        raise ValueError("audio contains non-finite samples")
    return x[None] if x.ndim == 1 else x


def causal_mean(v: np.ndarray, size: int, *, initial: float) -> np.ndarray:
    """Moving average over ``v[n-size+1 .. n]`` ``(T,)``, as if ``v`` were preceded by ``initial``."""
    padded = np.concatenate([np.full(size - 1, initial), v])  # (T + size - 1,)
    sums = np.concatenate([[0.0], np.cumsum(padded)])  # (T + size,)
    return (sums[size:] - sums[:-size]) / size


def _oversampling(sr: int) -> int:
    return max(4, math.ceil(TRUE_PEAK_RATE / sr))


def _peak_envelope(x: np.ndarray, *, sr: int, floor: float = 0.0) -> np.ndarray:
    """Per-sample true peak ``(T,)`` of ``x`` ``(C, T)``: the max over channels of ``|x[n]|``
    and of the interpolated points between n and n+1, wherever that can reach ``floor``.

    An interpolated point is a weighted sum of the samples within the filter's half-length,
    so it is at most G = max over phases of sum |h| (of :func:`_upsampling_filter`) times their
    largest magnitude. Blocks where G times the largest magnitude of the block and its
    neighbours stays under ``floor`` are not oversampled: there the envelope is ``|x|``,
    which is exact wherever the true envelope can reach ``floor`` (the limiter passes its
    ceiling, :func:`true_peak_dbtp` the sample peak, so both results are exact). The rest is
    oversampled a run of blocks at a time with enough context on both sides that the result
    equals oversampling the whole signal at once (the signal counts as zero outside its ends).
    """
    factor = _oversampling(sr)
    n_samples = x.shape[1]
    envelope = np.abs(x).max(axis=0, initial=0.0)  # (T,)
    n_blocks = -(-n_samples // _PEAK_BLOCK)
    block_max = np.zeros(n_blocks + 2)  # padded by a silent block on each side
    padded = np.pad(envelope, (0, n_blocks * _PEAK_BLOCK - n_samples))  # (n_blocks * _PEAK_BLOCK,)
    block_max[1:-1] = padded.reshape(n_blocks, _PEAK_BLOCK).max(1, initial=0.0)
    reach = np.maximum(np.maximum(block_max[:-2], block_max[1:-1]), block_max[2:])  # (n_blocks,)
    h = _upsampling_filter(factor)
    gain = 1.001 * factor * max(float(np.abs(h[p::factor]).sum()) for p in range(factor))  # G, with a margin
    needed = gain * reach >= floor  # (n_blocks,)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], needed.astype(np.int8), [0]])))  # run starts, stops
    for first, last in zip(edges[::2], edges[1::2]):
        for start in range(first * _PEAK_BLOCK, min(last * _PEAK_BLOCK, n_samples), _PEAK_CHUNK):
            stop = min(start + _PEAK_CHUNK, last * _PEAK_BLOCK, n_samples)
            lo, hi = max(0, start - _PEAK_CHUNK_PAD), min(n_samples, stop + _PEAK_CHUNK_PAD)
            up = np.abs(resample_poly(x[:, lo:hi], factor, 1, axis=-1, window=h))  # (C, (hi - lo) * factor)
            up = up.max(axis=0).reshape(hi - lo, factor)[start - lo : stop - lo].max(axis=1)  # (stop-start,)
            np.maximum(envelope[start:stop], up, out=envelope[start:stop])
    return envelope


@functools.lru_cache(maxsize=None)
def _upsampling_filter(factor: int) -> np.ndarray:
    """The interpolation filter of ``factor``x upsampling, scipy's own default for resample_poly
    (a Kaiser-windowed sinc, beta 5, half-length 10 input samples), passed to it explicitly so
    the bound of :func:`_peak_envelope` is taken on the filter that runs; resample_poly scales
    it by ``factor``."""
    from scipy.signal import firwin

    h = firwin(2 * 10 * factor + 1, 1.0 / factor, window=("kaiser", 5.0))
    h.setflags(write=False)
    return h


def limit_together(
    signals: list[np.ndarray],
    sr: int,
    *,
    ceiling_db: float,
    include_sum: bool = False,
    lookahead_s: float = LOOKAHEAD_S,
    release_s: float = RELEASE_S,
) -> tuple[list[np.ndarray], float]:
    """Apply one limiter gain to every ``(C, T)`` signal (and, if ``include_sum``, keep their
    sum under the ceiling as well); return them and the largest gain reduction in dB.

    The gain comes from all of them stacked as channels, so each one, and their sum, ends
    at or under ``ceiling_db``; a final static trim enforces it if interpolation let a
    peak through. Aims ``_CEILING_MARGIN_DB`` low so that float32 rounding stays under.
    """
    target_db = ceiling_db - _CEILING_MARGIN_DB
    def watched(parts: list[np.ndarray]) -> np.ndarray:  # (sum of C [+ C], T)
        return np.concatenate(parts + [np.sum(parts, axis=0)] if include_sum else parts)

    gain = limiter_gain(
        watched(signals), sr, ceiling_db=target_db, lookahead_s=lookahead_s, release_s=release_s
    )  # (T,)
    limited = [s * gain for s in signals]  # (C, T) each
    overshoot_db = max(true_peak_dbtp(watched(limited), sr) - target_db, 0.0)
    if overshoot_db > 0.0:  # static fallback
        trim = 10.0 ** (-overshoot_db / 20.0)
        limited = [s * trim for s in limited]
        gain = gain * trim
    min_gain = float(gain.min(initial=1.0))
    return limited, -20.0 * math.log10(min_gain) if min_gain < 1.0 else 0.0


__all__ = ["ABSOLUTE_GATE_LUFS", "LOOKAHEAD_S", "LOUDNESS_BLOCK_S", "RELEASE_S", "TRUE_PEAK_RATE",
           "causal_mean", "limit_together", "limit_true_peak", "limiter_gain", "loudness_lufs",
           "true_peak_dbtp"]
