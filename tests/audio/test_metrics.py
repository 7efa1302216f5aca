"""Codec distances: zero for identical waves, growing with added noise, lengths trimmed;
the Griffin-Lim reference keeps the mel's frame count."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from soundtrack.audio.mel import log_mel
from soundtrack.audio.metrics import (
    griffin_lim_from_mel,
    log_spectral_distance,
    mel_cepstral_distortion,
    mr_stft_distance,
    mr_stft_terms,
    scaled_resolutions,
)
from soundtrack.config import AUDIO

SR = AUDIO.sample_rate


@pytest.fixture(scope="module")
def tone() -> np.ndarray:
    """1 s (T,) float64: a harmonic tone with a noise burst."""
    rng = np.random.default_rng(0)
    t = np.arange(SR) / SR
    y = sum(0.3 / k * np.sin(2 * np.pi * 220.0 * k * t + k) for k in range(1, 6))
    y[4000:6000] += 0.2 * rng.standard_normal(2000)
    return y


def _noisy(y: np.ndarray, level: float) -> np.ndarray:
    return y + level * np.random.default_rng(1).standard_normal(len(y))


@pytest.mark.parametrize("metric", [
    lambda r, e: mr_stft_distance(r, e, SR),
    lambda r, e: log_spectral_distance(r, e),
    lambda r, e: mel_cepstral_distortion(r, e, SR),
], ids=["mr_stft", "lsd", "mcd"])
def test_zero_for_identical_and_growing_with_noise(tone: np.ndarray, metric) -> None:
    assert metric(tone, tone.copy()) == pytest.approx(0.0, abs=1e-9)
    d = [metric(tone, _noisy(tone, level)) for level in (1e-3, 1e-2, 1e-1)]
    assert 0 < d[0] < d[1] < d[2], f"{d=}"


def test_lengths_trimmed_to_shorter(tone: np.ndarray) -> None:
    est = np.concatenate([tone, np.zeros(777)])
    assert mr_stft_distance(tone, est, SR) == pytest.approx(0.0, abs=1e-9)
    assert log_spectral_distance(est, tone) == pytest.approx(0.0, abs=1e-9)
    assert mel_cepstral_distortion(tone, torch.from_numpy(est), SR) == pytest.approx(0.0, abs=1e-9)


def test_mr_stft_terms_differentiable_and_scaled() -> None:
    ref = torch.randn(2, 4000, dtype=torch.float64)
    est = (ref + 0.1 * torch.randn_like(ref)).requires_grad_()
    sc, mag = mr_stft_terms(ref, est)
    (sc + mag).backward()
    assert est.grad is not None and torch.isfinite(est.grad).all()
    assert scaled_resolutions(SR) == ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))
    assert scaled_resolutions(2 * SR)[0] == (1024, 256, 1024)


def test_griffin_lim_length_and_fidelity(tone: np.ndarray) -> None:
    mel = log_mel(torch.from_numpy(tone).float())[0]  # (64, F)
    wave = griffin_lim_from_mel(mel, n_iter=16)
    assert wave.shape == ((mel.shape[1] - 1) * AUDIO.hop_length,), f"{wave.shape=} {mel.shape=}"
    assert wave.dtype == np.float32
    # Deterministic (seeded phase init) and closer to the tone than white noise of its level.
    assert np.array_equal(wave, griffin_lim_from_mel(mel, n_iter=16))
    noise = np.random.default_rng(2).standard_normal(len(tone)) * tone.std()
    assert mr_stft_distance(tone, wave, SR) < mr_stft_distance(tone, noise, SR)
