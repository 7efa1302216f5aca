"""Stems to the 48 kHz stereo deliverable: panning, loudness, true peak, limiting, balance."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy.signal import resample_poly

from soundtrack.audio.mix import (
    Mix,
    balance_gains,
    balance_target_db,
    limit_true_peak,
    limiter_gain,
    loudness_lufs,
    mix_stems,
    pan_curve,
    pan_gains,
    true_peak_dbtp,
)
from soundtrack.config import MIX
from soundtrack.errors import InputError

SR_IN = 16_000
SECONDS = 3.0
N_IN = int(SECONDS * SR_IN)
N_OUT = round(N_IN * MIX.sample_rate / SR_IN)
PEAK_TOLERANCE_DB = 0.1


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    """(T,) a sustained A-major chord with a few harmonics, gently swelling."""
    t = np.arange(N_IN) / SR_IN
    chord = sum(
        0.08 / h * np.sin(2 * np.pi * f * h * t + h) for f in (220.0, 277.18, 329.63) for h in (1, 2, 3)
    )
    return chord * (0.8 + 0.2 * np.sin(2 * np.pi * 0.5 * t))


@pytest.fixture(scope="module")
def sfx() -> np.ndarray:
    """(T,) three decaying noise bursts (fixed seed) separated by silence."""
    rng = np.random.default_rng(0)
    out = np.zeros(N_IN)
    n = int(0.4 * SR_IN)
    for start_s in (0.3, 1.2, 2.1):
        i = int(start_s * SR_IN)
        out[i : i + n] += 0.3 * rng.standard_normal(n) * np.exp(-12.0 * np.arange(n) / SR_IN)
    return out


def _check_deliverable(m: Mix) -> None:
    assert m.sr == MIX.sample_rate
    for stem in (m.music, m.sfx, m.mix):
        assert stem.shape == (2, N_OUT) and stem.dtype == np.float32, f"{stem.shape=} {stem.dtype=}"
        assert np.isfinite(stem).all()
        assert true_peak_dbtp(stem, m.sr) <= MIX.true_peak_dbtp + PEAK_TOLERANCE_DB
    np.testing.assert_allclose(m.music + m.sfx, m.mix, rtol=0.0, atol=1e-7)


# ------------------------------------------------------------------------ building blocks


def test_pan_law() -> None:
    left, right = pan_gains(np.array([0.0, 0.5, 1.0]))
    np.testing.assert_allclose(left, [1.0, 10 ** (MIX.pan_law_db / 20), 0.0], atol=1e-12)
    np.testing.assert_allclose(right, left[::-1], atol=1e-12)
    x = np.linspace(0.0, 1.0, 101)
    power_db = 10 * np.log10(np.sum(np.square(pan_gains(x)), axis=0))
    assert np.abs(power_db).max() < 0.02  # constant power, to the -3.0 vs -3.01 dB centre
    with pytest.raises(InputError):
        pan_gains(1.5)
    with pytest.raises(InputError):
        pan_gains(np.array([0.2, np.nan]))


def test_pan_curve_switches_with_crossfade() -> None:
    sr = 1000
    curve = pan_curve([0.5, 0.2], [1.0, 0.0], n_samples=1000, sr=sr, fade_s=0.01)  # unsorted events
    assert curve.shape == (1000,)
    assert np.all(curve[:200] == 0.5)  # centre before the first event
    np.testing.assert_allclose(curve[200:210], 0.5 - 0.05 * np.arange(1, 11), atol=1e-12)  # 10 ms ramp
    assert np.all(curve[210:500] == 0.0)
    assert np.all(curve[510:] == 1.0)
    assert np.abs(np.diff(curve)).max() <= 0.1 + 1e-12  # never jumps
    np.testing.assert_allclose(pan_curve([0.0], [0.2], n_samples=50, sr=sr), 0.2, atol=1e-12)  # at once


def test_loudness_reference_tone_and_silence() -> None:
    sr = MIX.sample_rate
    t = np.arange(3 * sr) / sr
    tone = 0.1 * np.sin(2 * np.pi * 997.0 * t)  # -20 dBFS peak: BS.1770 reads -23.01 LUFS in mono
    assert loudness_lufs(tone, sr) == pytest.approx(-23.01, abs=0.05)
    assert loudness_lufs(np.stack([tone, tone]), sr) == pytest.approx(-20.0, abs=0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert loudness_lufs(np.zeros((2, sr)), sr) == -math.inf
        assert loudness_lufs(1e-6 * tone, sr) == -math.inf  # under the -70 LUFS absolute gate
        short = tone[: int(0.2 * sr)]  # shorter than a 400 ms block: mean-square fallback
        assert loudness_lufs(short, sr) == pytest.approx(-23.01, abs=0.05)
        assert loudness_lufs(np.zeros(10), sr) == -math.inf


def test_true_peak_sees_intersample_peaks() -> None:
    sr = MIX.sample_rate
    n = np.arange(sr)
    fade = np.minimum(1.0, np.minimum(n, n[::-1]) / (0.05 * sr))  # no clicks at the ends
    x = fade * np.sin(2 * np.pi * n / 4 + np.pi / 4)  # fs/4 at 45°: samples at ±0.707, true peak 1.0
    assert 20 * np.log10(np.abs(x).max()) == pytest.approx(-3.01, abs=0.01)
    # within the interpolation filter's passband ripple (measured +0.015 dB)
    assert true_peak_dbtp(x, sr) == pytest.approx(0.0, abs=0.05)
    assert true_peak_dbtp(np.stack([0.5 * x, x]), sr) == true_peak_dbtp(x, sr)  # max over channels
    assert true_peak_dbtp(np.zeros((2, 100)), sr) == -math.inf


def test_true_peak_is_exact_across_oversampling_chunks() -> None:
    """Long signals are oversampled in chunks; the result must equal doing it in one go."""
    sr = MIX.sample_rate
    x = 0.1 * np.random.default_rng(2).standard_normal((2, 150_000))
    for boundary in (1 << 16, 2 << 16):  # inter-sample peaks straddling chunk boundaries
        x[1, boundary - 3 : boundary + 3] = [0.3, -0.7, 0.95, 0.95, -0.7, 0.3]
    whole = max(np.abs(x).max(), np.abs(resample_poly(x, 4, 1, axis=-1)).max())
    assert whole > 0.95  # an inter-sample peak above every sample
    assert true_peak_dbtp(x, sr) == pytest.approx(20 * np.log10(whole), abs=1e-9)


def test_peak_envelope_skips_only_blocks_that_cannot_reach_the_floor() -> None:
    """Blocks whose samples (with their neighbours') cannot interpolate up to the floor are not
    oversampled; wherever the true envelope reaches the floor the result is exact."""
    from soundtrack.audio.loudness import _peak_envelope

    sr = MIX.sample_rate
    x = 0.01 * np.random.default_rng(3).standard_normal((2, 100_000))
    for at in (5_000, 40_960, 77_777):  # inter-sample peaks, one on a block edge
        x[0, at - 3 : at + 3] = [0.3, -0.7, 0.95, 0.95, -0.7, 0.3]
    full = _peak_envelope(x, sr=sr)
    fast = _peak_envelope(x, sr=sr, floor=0.5)
    reaches = full >= 0.5
    assert reaches.sum() >= 3 and np.array_equal(fast[reaches], full[reaches])
    assert (fast <= full).all() and (fast < full).mean() > 0.5  # most blocks were skipped
    assert np.array_equal(fast[~reaches] < 0.5, np.ones((~reaches).sum(), bool))
    assert true_peak_dbtp(x, sr) == 20 * np.log10(full.max())
    assert _peak_envelope(np.zeros((2, 0)), sr=sr, floor=0.5).shape == (0,)  # empty: no blocks at all
    assert true_peak_dbtp(np.zeros((2, 0)), sr) == -math.inf


def test_limiter_meets_ceiling_and_never_amplifies() -> None:
    sr = MIX.sample_rate
    rng = np.random.default_rng(1)
    x = 0.05 * rng.standard_normal((2, sr))  # quiet bed ...
    x[:, [1000, 20_000, 20_030]] = [[1.5, -2.0, 1.8], [0.9, -1.2, 0.7]]  # ... with loud spikes
    gain = limiter_gain(x, sr, ceiling_db=-1.0)
    assert gain.shape == (sr,) and gain.max() <= 1.0 and gain.min() > 0.0
    lookahead = int(round(0.0015 * sr))
    assert np.all(gain[: 1000 - lookahead] == 1.0) and gain[1000 - lookahead + 1] < 1.0  # 1.5 ms look-ahead
    assert gain[1000] <= 10 ** ((-1.0 - 20 * np.log10(1.5)) / 20)  # the spike itself is pulled down
    assert gain[1000 + sr // 20] < gain[1000 + sr // 10] < gain[15_000]  # ~50 ms exponential release
    assert gain[15_000] > 10 ** (-0.02 / 20)  # recovered: 4.5 dB * exp(-14000 / 2400) < 0.02 dB
    y = limit_true_peak(x.astype(np.float32), sr, ceiling_db=-1.0)
    assert y.shape == x.shape and y.dtype == np.float32
    assert true_peak_dbtp(y, sr) <= -1.0
    assert np.all(np.abs(y) <= np.abs(x) + 1e-6)
    quiet = 0.1 * x  # already under the ceiling: unchanged
    np.testing.assert_array_equal(limit_true_peak(quiet, sr, ceiling_db=-1.0), quiet)


def test_balance_gains_semantics() -> None:
    assert balance_gains(0.0) == (1.0, 0.0)
    assert balance_gains(1.0) == (0.0, 1.0)
    assert balance_gains(0.5) == (0.5, 0.5)
    assert balance_target_db(0.5) == 0.0
    assert balance_target_db(0.8) == pytest.approx(20 * math.log10(4))
    assert balance_target_db(0.0) == -math.inf and balance_target_db(1.0) == math.inf
    for bad in (math.nan, -0.1, 1.01):
        with pytest.raises(InputError, match="balance"):
            balance_gains(bad)
        with pytest.raises(InputError, match="balance"):
            balance_target_db(bad)


# ------------------------------------------------------------------------------ mix_stems


def test_mix_equal_balance(music: np.ndarray, sfx: np.ndarray) -> None:
    m = mix_stems(music, sfx, sr_in=SR_IN, balance=0.5)
    _check_deliverable(m)
    assert m.gain_reduction_db == 0.0  # this material fits under the ceiling at -16 LUFS
    assert abs(m.mix_lufs - MIX.target_lufs) <= 0.5
    assert abs(m.sfx_lufs - m.music_lufs) <= 0.5
    assert m.mix_lufs == pytest.approx(loudness_lufs(m.mix, m.sr))


def test_mix_balance_08(music: np.ndarray, sfx: np.ndarray) -> None:
    m = mix_stems(music, sfx, sr_in=SR_IN, balance=0.8)
    _check_deliverable(m)
    assert abs((m.sfx_lufs - m.music_lufs) - 20 * math.log10(4)) <= 0.5
    if m.gain_reduction_db > 0.0:
        assert MIX.target_lufs - 2.0 <= m.mix_lufs <= MIX.target_lufs + 1e-6
    else:
        assert abs(m.mix_lufs - MIX.target_lufs) <= 0.5


@pytest.mark.parametrize("balance", [0.0, 1.0])
def test_mix_balance_extremes(music: np.ndarray, sfx: np.ndarray, balance: float) -> None:
    m = mix_stems(music, sfx, sr_in=SR_IN, balance=balance)
    _check_deliverable(m)
    silent, kept = (m.sfx, m.music) if balance == 0.0 else (m.music, m.sfx)
    assert not silent.any()
    np.testing.assert_array_equal(m.mix, kept)
    assert abs(m.mix_lufs - MIX.target_lufs) <= 0.5 or m.gain_reduction_db > 0.0


def test_mix_peaky_input_is_limited(music: np.ndarray, sfx: np.ndarray) -> None:
    clicks = 0.1 * music
    clicks[:: SR_IN // 4] = 1.0  # four full-scale clicks a second over a quiet bed
    m = mix_stems(clicks, sfx, sr_in=SR_IN, balance=0.5)
    _check_deliverable(m)
    assert m.gain_reduction_db > 6.0  # the limiter really had work to do
    assert MIX.target_lufs - 2.0 <= m.mix_lufs <= MIX.target_lufs + 1e-6
    assert abs(m.sfx_lufs - m.music_lufs) <= 0.5


def test_mix_pans_effects_left(music: np.ndarray, sfx: np.ndarray) -> None:
    pan = pan_curve([0.0], [0.0], n_samples=N_IN, sr=SR_IN)
    m = mix_stems(music, sfx, sr_in=SR_IN, sfx_pan=pan)
    _check_deliverable(m)
    left, right = (float(np.sum(np.square(ch))) for ch in m.sfx)
    assert right == 0.0 or 10 * math.log10(left / right) >= 20.0
    np.testing.assert_array_equal(m.music[0], m.music[1])  # music stays centred


def test_mix_silent_sfx_gives_no_nan(music: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = mix_stems(music, np.zeros_like(music), sr_in=SR_IN, balance=0.5)
    _check_deliverable(m)
    assert not m.sfx.any() and m.sfx_lufs == -math.inf
    assert abs(m.mix_lufs - MIX.target_lufs) <= 0.5


def test_mix_rejects_bad_balance_and_lengths(music: np.ndarray, sfx: np.ndarray) -> None:
    for bad in (math.nan, -0.5, 2.0):
        with pytest.raises(InputError):
            mix_stems(music, sfx, sr_in=SR_IN, balance=bad)
    with pytest.raises(AssertionError, match="shape"):
        mix_stems(music, sfx[:-1], sr_in=SR_IN)
