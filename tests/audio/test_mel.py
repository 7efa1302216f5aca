"""The torch log-mel front end against librosa, plus batching, shapes and gradients.

Tolerances (measured on the 2 s test signal, max |torch - librosa| of log-mel):
  * float64: <= 1e-9 (measured ~2e-12): the same maths, to rounding.
  * float32: <= 3e-3 in log-mel (measured ~1.4e-3), and <= 5e-7 * max(mel) in linear
    mel magnitude (measured ~1.2e-7 * max). float32 FFT rounding adds ~1e-7 of the frame
    peak to every bin, which only shows in the log for bins within ~10x of the 1e-5 floor;
    above 1e-2 the log-mel agrees to ~2e-6.
"""
from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from soundtrack.audio.mel import MelSpectrogram, log_mel
from soundtrack.config import AUDIO, AudioConfig

SECONDS = 2.0


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    """2 s at 16 kHz, float64 (T,): a harmonic tone, a late 3 kHz partial, a decaying
    noise burst and 100 ms of digital silence (to exercise the log floor)."""
    rng = np.random.default_rng(0)
    sr = AUDIO.sample_rate
    t = np.arange(AUDIO.n_samples(SECONDS)) / sr
    y = sum(0.3 / k * np.sin(2 * np.pi * 220.0 * k * t + k) for k in range(1, 8))
    y = y + 0.1 * np.sin(2 * np.pi * 3000.0 * t) * (t > 1.2)
    burst = (t > 0.5) & (t < 0.8)
    y[burst] += 0.5 * rng.standard_normal(int(burst.sum())) * np.exp(-10.0 * (t[burst] - 0.5))
    y[int(1.6 * sr) : int(1.7 * sr)] = 0.0
    return y


def _librosa_mel(y: np.ndarray) -> np.ndarray:
    """Reference linear mel magnitude (n_mels, frames), AudioLDM settings."""
    return librosa.feature.melspectrogram(
        y=y,
        sr=AUDIO.sample_rate,
        n_fft=AUDIO.n_fft,
        hop_length=AUDIO.hop_length,
        win_length=AUDIO.win_length,
        window="hann",
        center=True,
        pad_mode="reflect",
        power=1.0,
        n_mels=AUDIO.n_mels,
        fmin=AUDIO.fmin,
        fmax=AUDIO.fmax,
    )


def test_matches_librosa_float64(signal: np.ndarray) -> None:
    ref = np.log(np.maximum(_librosa_mel(signal), AUDIO.log_floor))  # (n_mels, frames)
    out = MelSpectrogram()(torch.from_numpy(signal))  # (1, n_mels, frames)
    assert out.dtype == torch.float64
    assert out.shape == (1, *ref.shape), f"{out.shape=} {ref.shape=}"
    assert np.abs(out[0].numpy() - ref).max() <= 1e-9


def test_matches_librosa_float32(signal: np.ndarray) -> None:
    ref_mel = _librosa_mel(signal)  # float64 reference
    ref = np.log(np.maximum(ref_mel, AUDIO.log_floor))
    module = MelSpectrogram()
    wave = torch.from_numpy(signal.astype(np.float32))
    out = module(wave)[0].double().numpy()
    assert np.abs(out - ref).max() <= 3e-3
    mel = module.magnitude_mel(wave)[0].double().numpy()
    assert np.abs(mel - ref_mel).max() <= 5e-7 * ref_mel.max()
    well_above_floor = ref_mel >= 1e-2
    assert np.abs(out - ref)[well_above_floor].max() <= 1e-5


def test_shape_and_frame_count(signal: np.ndarray) -> None:
    out = log_mel(signal.astype(np.float32))
    assert out.shape == (1, AUDIO.n_mels, AUDIO.n_frames(SECONDS)), f"{out.shape=}"
    assert out.shape[-1] == len(signal) // AUDIO.hop_length + 1
    assert out.dtype == torch.float32
    assert out.min().item() >= np.log(AUDIO.log_floor) - 1e-6


def test_batch_equals_single_calls(signal: np.ndarray) -> None:
    batch = np.stack([signal, signal[::-1], 0.25 * signal]).astype(np.float32)  # (3, T)
    module = MelSpectrogram()
    together = module(torch.from_numpy(batch))  # (3, n_mels, frames)
    one_by_one = torch.cat([module(torch.from_numpy(row)) for row in batch])  # (3, n_mels, frames)
    assert together.shape == (3, AUDIO.n_mels, AUDIO.n_frames(SECONDS)), f"{together.shape=}"
    torch.testing.assert_close(together, one_by_one, rtol=0.0, atol=1e-5)


def test_gradient_reaches_waveform(signal: np.ndarray) -> None:
    wave = torch.from_numpy(signal[: AUDIO.sample_rate // 2].astype(np.float32)).requires_grad_(True)
    MelSpectrogram()(wave).sum().backward()
    assert wave.grad is not None and wave.grad.shape == wave.shape
    assert torch.isfinite(wave.grad).all()
    assert wave.grad.abs().max() > 0


def test_gradcheck_tiny_config() -> None:
    cfg = AudioConfig(n_fft=64, win_length=64, hop_length=16, n_mels=8)  # tiny but same code path
    wave = torch.randn(2, 96, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    assert torch.autograd.gradcheck(MelSpectrogram(cfg), (wave.requires_grad_(True),))


def test_rejects_too_short_wave() -> None:
    with pytest.raises(AssertionError, match="too short"):
        MelSpectrogram()(torch.zeros(AUDIO.n_fft // 2))
