"""Music and effects stems to the deliverable: 48 kHz stereo, balanced, -16 LUFS, -1 dBTP.

Arrays are channel-first, ``(T,)`` mono or ``(C, T)``. Loudness, true peak and the limiter
are soundtrack/audio/loudness.py's (re-exported here). The pipeline (:func:`mix_stems`):

1. resample both mono stems to 48 kHz (soxr);
2. pan: music centred, effects following a pan curve (constant-power law);
3. balance: match both stems to equal loudness, then weight amplitudes by (1 - b, b);
4. normalise the sum to the target loudness;
5. limit true peaks with one gain envelope shared by both stems and their sum, so the
   stems still add up to the mix and each of them respects the ceiling too (and re-level
   the stems if limiting skewed their balance).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import soxr

from soundtrack.audio.loudness import (causal_mean, limit_together, limit_true_peak, limiter_gain,
                                       loudness_lufs, true_peak_dbtp)
from soundtrack.config import MIX, MixConfig
from soundtrack.errors import InputError

_LIMITER_PASSES = 5  # limiter passes at most, while limiting costs loudness or skews the balance
_LOUDNESS_TOLERANCE_LU = 0.2  # after limiting, a mix this much under the target is close enough
_BALANCE_TOLERANCE_DB = 0.1  # and a stem balance this far off


@dataclass(frozen=True, eq=False)
class Mix:
    """The deliverable and its stems, each ``(2, T)`` float32 at ``sr``; ``music + sfx == mix``.

    Loudness in LUFS and true peak in dBTP are measured on the returned arrays (``-inf`` for
    silence). ``gain_reduction_db`` is the largest reduction the limiter applied (0 when
    the mix stayed under the ceiling by itself).
    """

    music: np.ndarray  # (2, T)
    sfx: np.ndarray  # (2, T)
    mix: np.ndarray  # (2, T)
    sr: int
    music_lufs: float
    sfx_lufs: float
    mix_lufs: float
    music_dbtp: float
    sfx_dbtp: float
    mix_dbtp: float
    gain_reduction_db: float

    def __post_init__(self) -> None:
        for name in ("music", "sfx", "mix"):
            a = getattr(self, name)
            assert a.dtype == np.float32 and a.ndim == 2 and a.shape[0] == 2, f"{name}: {a.shape=} {a.dtype=}"
            assert a.shape == self.mix.shape, f"{name}: {a.shape=} {self.mix.shape=}"


# ----------------------------------------------------------------------------- panning


def pan_gains(x: float | np.ndarray, *, pan_law_db: float = MIX.pan_law_db) -> tuple[np.ndarray, np.ndarray]:
    """Left and right gains for pan positions ``x`` in [0, 1] (0 left, 0.5 centre, 1 right).

    With θ = x·π/2 the gains are ``(cos θ)^k, (sin θ)^k``; ``k = 1`` is the constant-power
    sine law (cos² + sin² = 1, centre at -3.01 dB per side). ``k`` is set so the centre sits
    at exactly ``pan_law_db`` per side: ``k = pan_law_db / (20·log10 cos(π/4))``, which is
    0.997 for the default -3 dB (power stays within 0.01 dB of constant) and 2 for a -6 dB
    (constant-amplitude) law. Vectorised: arrays in, arrays of the same shape out.
    """
    x = np.asarray(x, dtype=np.float64)
    if not np.isfinite(x).all() or x.min(initial=0.0) < 0.0 or x.max(initial=0.0) > 1.0:
        raise InputError("pan positions must be between 0 (left) and 1 (right)")
    assert pan_law_db < 0.0, f"{pan_law_db=}"
    k = pan_law_db / (20.0 * math.log10(math.cos(math.pi / 4)))
    # cos θ as sin((1 - x)·π/2): mirror-symmetric and exactly 0 at the far side
    return np.sin((1.0 - x) * (math.pi / 2)) ** k, np.sin(x * (math.pi / 2)) ** k


def pan_curve(
    events_times: Sequence[float] | np.ndarray,
    events_x: Sequence[float] | np.ndarray,
    *,
    n_samples: int,
    sr: int,
    fade_s: float = 0.01,
) -> np.ndarray:
    """Pan position per sample ``(n_samples,)``: centre (0.5) until the first event, then
    each event's ``x`` from its time (seconds) on.

    Each switch is a linear crossfade lasting ``fade_s`` that starts at the event (a causal
    moving average of the step function), so the position never jumps; an event at time 0
    applies from the first sample. Events may come in any order; of events at the same
    sample the last listed wins.
    """
    times = np.asarray(events_times, dtype=np.float64).ravel()
    xs = np.asarray(events_x, dtype=np.float64).ravel()
    assert times.shape == xs.shape, f"one position per event: {times.shape=} {xs.shape=}"
    assert n_samples >= 0 and sr > 0 and fade_s >= 0.0, f"{n_samples=} {sr=} {fade_s=}"
    if not np.isfinite(times).all():
        raise InputError("pan event times must be finite numbers of seconds")
    pan_gains(xs)  # validates the positions

    order = np.argsort(times, kind="stable")
    starts = np.clip(np.round(times[order] * sr), 0, n_samples).astype(np.int64)  # (E,)
    levels = np.concatenate([[0.5], xs[order]])  # (E + 1,): level before any event, then each event's
    steps = levels[np.searchsorted(starts, np.arange(n_samples), side="right")]  # (T,)
    fade = max(1, int(round(fade_s * sr)))
    initial = float(steps[0]) if n_samples else 0.5
    return np.clip(causal_mean(steps, fade, initial=initial), 0.0, 1.0)


# --------------------------------------------------------------------------- balance


def balance_gains(balance: float) -> tuple[float, float]:
    """Amplitude weights ``(music, sfx) = (1 - b, b)`` for a balance ``b`` in [0, 1].

    They apply after both stems have been normalised to equal loudness, so the loudness
    difference sfx − music is exactly ``20·log10(b / (1 - b))`` dB
    (:func:`balance_target_db`): b = 0 is music only, b = 1 effects only, b = 0.5 equal
    loudness, b = 0.8 effects 12.04 dB louder. :func:`mix_stems` holds this through its
    limiter (re-levelling the stems when limiting skews it). Raises :class:`InputError` for
    NaN or values outside [0, 1].
    """
    b = _check_balance(balance)
    return 1.0 - b, b


def balance_target_db(balance: float) -> float:
    """Loudness difference sfx − music in dB that ``balance`` asks for:
    ``20·log10(b / (1 - b))``, ``-inf`` at 0 (music only) and ``+inf`` at 1 (effects only)."""
    b = _check_balance(balance)
    if b == 0.0:
        return -math.inf
    if b == 1.0:
        return math.inf
    return 20.0 * math.log10(b / (1.0 - b))


# ------------------------------------------------------------------------------- mix


def mix_stems(
    music: np.ndarray,
    sfx: np.ndarray,
    *,
    sr_in: int,
    balance: float = 0.5,
    sfx_pan: np.ndarray | None = None,
    cfg: MixConfig = MIX,
) -> Mix:
    """Mix mono ``music`` and ``sfx`` ``(T,)`` at ``sr_in`` into the stereo deliverable.

    ``music`` may instead be a stereo ``(2, T')`` stem already at ``cfg.sample_rate`` with
    ``T' = round(T · sr_out / sr_in)`` (the score engine's rendered instruments): it keeps
    its own panning and is not resampled.

    ``balance`` b in [0, 1] sets the stem loudness difference sfx − music to
    ``20·log10(b / (1 - b))`` dB (:func:`balance_gains`). ``sfx_pan`` is a ``(T,)`` pan
    position per input sample (:func:`pan_curve`; None = centre). The result is at
    ``cfg.sample_rate`` with ``round(T · sr_out / sr_in)`` samples, loudness
    ``cfg.target_lufs`` (a little less where the limiter had to act) and true peak
    ≤ ``cfg.true_peak_dbtp``; its stems are the gain-staged signals that sum to it, each
    under the ceiling too. A silent stem stays silent (no loudness matching for it).
    """
    # 1. Check inputs
    music_weight, sfx_weight = balance_gains(balance)
    music = np.asarray(music, dtype=np.float64)
    sfx = np.asarray(sfx, dtype=np.float64)
    assert sr_in > 0, f"{sr_in=}"
    if not (np.isfinite(music).all() and np.isfinite(sfx).all()):
        raise ValueError("stems contain non-finite samples")
    sr = cfg.sample_rate
    n_in = sfx.shape[0]
    n_out = int(round(n_in * sr / sr_in))
    rendered = music.ndim == 2
    if rendered:
        assert music.shape == (2, n_out), f"stereo music at {sr} Hz: {music.shape=}, expected {(2, n_out)}"
    else:
        assert music.ndim == 1 and music.shape == sfx.shape, f"mono, same length: {music.shape=} {sfx.shape=}"

    # 2. Resample to the deliverable rate; the pan curve is interpolated (no ringing)
    if not rendered:
        music = resample(music, sr_in=sr_in, sr_out=sr, n_out=n_out)  # (T',)
    sfx = resample(sfx, sr_in=sr_in, sr_out=sr, n_out=n_out)  # (T',)
    if sfx_pan is None:
        pan = np.full(n_out, 0.5)
    else:
        sfx_pan = np.asarray(sfx_pan, dtype=np.float64)
        assert sfx_pan.shape == (n_in,), f"one pan position per input sample: {sfx_pan.shape=} {n_in=}"
        pan = np.interp(np.arange(n_out) / sr, np.arange(sfx_pan.shape[0]) / sr_in, sfx_pan)  # (T',)

    # 3. Pan: music centred (a rendered stem keeps its own), effects along their curve
    centre = np.stack(pan_gains(0.5, pan_law_db=cfg.pan_law_db))[:, None]  # (2, 1)
    music_st = music.copy() if rendered else centre * music  # (2, T')
    sfx_st = np.stack(pan_gains(pan, pan_law_db=cfg.pan_law_db)) * sfx  # (2, T')

    # 4. Balance: equal loudness first, then amplitude weights (1 - b, b)
    music_lufs, sfx_lufs = loudness_lufs(music_st, sr), loudness_lufs(sfx_st, sr)
    music_st *= music_weight * _gain_to(music_lufs, cfg.target_lufs)
    sfx_st *= sfx_weight * _gain_to(sfx_lufs, cfg.target_lufs)
    both_audible = music_weight * sfx_weight > 0.0 and math.isfinite(music_lufs) and math.isfinite(sfx_lufs)

    # 5. Normalise the sum to the target loudness
    mix_gain = _gain_to(loudness_lufs(music_st + sfx_st, sr), cfg.target_lufs)
    music_st *= mix_gain
    sfx_st *= mix_gain

    # 6. True-peak limit: one gain envelope for both stems, so they still add up to the mix
    target_db = balance_target_db(balance) if both_audible else None
    music_out, sfx_out, reduction_db = _limit_balanced(music_st, sfx_st, target_db=target_db, sr=sr, cfg=cfg)
    music32 = music_out.astype(np.float32)
    sfx32 = sfx_out.astype(np.float32)
    mix32 = music32 + sfx32  # the stems add up to the mix exactly

    # 7. Measure what is delivered
    return Mix(
        music=music32,
        sfx=sfx32,
        mix=mix32,
        sr=sr,
        music_lufs=loudness_lufs(music32, sr),
        sfx_lufs=loudness_lufs(sfx32, sr),
        mix_lufs=loudness_lufs(mix32, sr),
        music_dbtp=true_peak_dbtp(music32, sr),
        sfx_dbtp=true_peak_dbtp(sfx32, sr),
        mix_dbtp=true_peak_dbtp(mix32, sr),
        gain_reduction_db=reduction_db,
    )


# --------------------------------------------------------------------------- helpers


def _check_balance(balance: float) -> float:
    try:
        b = float(balance)
    except (TypeError, ValueError):
        b = math.nan
    if not 0.0 <= b <= 1.0:  # False for NaN as well
        raise InputError(f"balance must be between 0 (music only) and 1 (effects only), got {balance!r}")
    return b


def _gain_to(lufs: float, target_lufs: float) -> float:
    """Amplitude gain taking loudness ``lufs`` to ``target_lufs``; 1 for silence."""
    return 10.0 ** ((target_lufs - lufs) / 20.0) if math.isfinite(lufs) else 1.0


def resample(x: np.ndarray, *, sr_in: int, sr_out: int, n_out: int) -> np.ndarray:
    """``(T,)`` at ``sr_in`` -> ``(n_out,)`` at ``sr_out`` (soxr "HQ"; trimmed or zero-padded
    to exactly ``n_out``, soxr may differ by a sample)."""
    y = x if sr_in == sr_out else soxr.resample(x, sr_in, sr_out, quality="HQ")
    y = y[:n_out]
    return np.pad(y, (0, n_out - y.shape[0]))  # (n_out,)


def _limit_balanced(
    music: np.ndarray, sfx: np.ndarray, *, target_db: float | None, sr: int, cfg: MixConfig
) -> tuple[np.ndarray, np.ndarray, float]:
    """Limit ``(2, T)`` stems (their sum already at ``cfg.target_lufs``) together to
    ``cfg.true_peak_dbtp``, keeping the mix loudness and the stem loudness difference
    sfx − music at ``target_db`` (None when only one stem is audible).

    Limiting takes loudness away, and more from whichever stem makes the peaks (a burst of
    effects loses more than the music under it). So when the limiter acts, two gains are
    corrected from what it measured and the stems are limited again: a make-up gain m by
    the mix's loudness shortfall and a tilt t by the balance error (sfx +t/2 dB, music
    -t/2 dB). Each pass removes most of both errors; the best of a few passes is kept, and
    a mix left above the target is brought down to it by a static gain (which moves
    neither the balance nor any peak above the ceiling). Returns the stems and the largest
    gain reduction of the limiter (dB).
    """
    makeup_db = tilt_db = 0.0
    # (cost, loudness above target, (music, sfx, reduction))
    best: tuple[float, float, tuple[np.ndarray, np.ndarray, float]] | None = None
    for _ in range(_LIMITER_PASSES):
        music_gain = 10.0 ** ((makeup_db - tilt_db / 2) / 20.0)
        sfx_gain = 10.0 ** ((makeup_db + tilt_db / 2) / 20.0)
        (music_out, sfx_out), reduction_db = limit_together(
            [music * music_gain, sfx * sfx_gain], sr, ceiling_db=cfg.true_peak_dbtp, include_sum=True
        )
        if reduction_db == 0.0 and makeup_db == tilt_db == 0.0:
            return music_out, sfx_out, reduction_db  # nothing to limit: levels are exact
        loudness_error = loudness_lufs(music_out + sfx_out, sr) - cfg.target_lufs
        balance_error = 0.0
        if target_db is not None:
            balance_error = loudness_lufs(sfx_out, sr) - loudness_lufs(music_out, sr) - target_db
        cost = max(-loudness_error, 0.0) + abs(balance_error)  # an excess is trimmed below
        if best is None or cost < best[0]:
            best = (cost, max(loudness_error, 0.0), (music_out, sfx_out, reduction_db))
        if loudness_error >= -_LOUDNESS_TOLERANCE_LU and abs(balance_error) <= _BALANCE_TOLERANCE_DB:
            break
        makeup_db -= loudness_error
        tilt_db -= balance_error
    assert best is not None
    _, excess_db, (music_out, sfx_out, reduction_db) = best
    trim = 10.0 ** (-excess_db / 20.0)
    return music_out * trim, sfx_out * trim, reduction_db


__all__ = ["Mix", "balance_gains", "balance_target_db", "limit_true_peak", "limiter_gain", "loudness_lufs",
           "mix_stems", "pan_curve", "pan_gains", "resample", "true_peak_dbtp"]
