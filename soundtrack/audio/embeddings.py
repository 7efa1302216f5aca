"""Frozen audio embeddings for the Fréchet audio distance (FAD), and the distance itself.

Two embeddings, so the model is never only judged by itself:

- **stats** (:func:`stats_embedding`): fixed and training-free. librosa features of the
  wave at hop 160 (100 frames/s, the mel front end's rate), n_fft 1024:
  20 MFCCs (from a 64-band mel power spectrogram, dB), 12-bin chroma (STFT, A440 tuning:
  no per-clip tuning estimate), 7-band spectral contrast (6 octave bands from 200 Hz + the
  residual), spectral centroid and bandwidth (in kHz, so they sit on the scale of the
  others), spectral flatness and the onset strength envelope. Each of these D0 = 43 frame
  features is summarised over the clip by its mean and its standard deviation: the
  embedding is `[mean ; std]`, D = 86, deterministic (no random parts, float64
  arithmetic). It sees timbre (MFCC, contrast, flatness), harmony (chroma), brightness and
  rhythmic activity (onsets), i.e. whether a stem *sounds like* music or like effects, and
  no model trained here shaped it.
- **cvsm** (:func:`cvsm_embedding`): the global embedding `z` of the trained CVSM audio
  encoder for the stem (docs/method/cvsm.md eq. 1b; the music encoder for music, the
  effects encoder for effects), unit norm, D = embed_dim. It was trained on this corpus
  with the generator's conditioning model, so it is closer to the task but it is the
  system judging itself: report it next to the stats one, never alone.

FAD (Kilgour et al. 2019; the FID formula of Heusel et al. 2017) between Gaussian fits
N(mu_a, S_a), N(mu_b, S_b) of two sets of embeddings:

    FAD = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))
"""
from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from soundtrack.config import AUDIO

STATS_HOP = 160  # 100 frames/s, the mel front end's hop
STATS_N_FFT = 1024
N_MFCC = 20
N_CHROMA = 12
N_CONTRAST_BANDS = 6  # -> 7 rows (6 bands + residual)
STATS_FEATURES = N_MFCC + N_CHROMA + (N_CONTRAST_BANDS + 1) + 4  # centroid, bandwidth, flatness, onset
STATS_DIM = 2 * STATS_FEATURES  # mean and std
FAD_EPS = 1e-6  # added to both covariance diagonals: finite sqrtm for few or degenerate samples


def stats_frames(wave: np.ndarray, sr: int = AUDIO.sample_rate) -> np.ndarray:
    """Frame features `(43, frames)` of a mono wave `(T,)` (module docstring)."""
    import librosa

    y = np.asarray(wave, dtype=np.float64)
    assert y.ndim == 1 and len(y) > STATS_N_FFT, f"expected a mono wave (T,), T > {STATS_N_FFT}: {y.shape=}"
    mag = np.abs(librosa.stft(y, n_fft=STATS_N_FFT, hop_length=STATS_HOP))  # (513, frames)
    power = mag ** 2
    mel = librosa.feature.melspectrogram(S=power, sr=sr, n_mels=64)  # (64, frames)
    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(mel), n_mfcc=N_MFCC)  # (20, frames)
    chroma = librosa.feature.chroma_stft(S=power, sr=sr, n_chroma=N_CHROMA, tuning=0.0)  # (12, frames), A440
    contrast = librosa.feature.spectral_contrast(S=mag, sr=sr, n_bands=N_CONTRAST_BANDS)  # (7, frames)
    centroid = librosa.feature.spectral_centroid(S=mag, sr=sr) / 1000.0  # (1, frames), kHz
    bandwidth = librosa.feature.spectral_bandwidth(S=mag, sr=sr) / 1000.0  # (1, frames), kHz
    flatness = librosa.feature.spectral_flatness(S=mag)  # (1, frames)
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel), sr=sr, hop_length=STATS_HOP)  # (frames,)
    feats = np.concatenate([mfcc, chroma, contrast, centroid, bandwidth, flatness, onset[None]], axis=0)
    assert feats.shape[0] == STATS_FEATURES, f"{feats.shape=}"
    return feats


def stats_embedding(wave: np.ndarray, sr: int = AUDIO.sample_rate) -> np.ndarray:
    """The training-free embedding of a mono wave `(T,)`: `(86,)` float64, frame means then stds."""
    feats = stats_frames(wave, sr)  # (43, frames)
    return np.concatenate([feats.mean(axis=1), feats.std(axis=1)])  # (86,)


@torch.no_grad()
def cvsm_embedding(cvsm, mel: torch.Tensor, *, stem: Literal["music", "sfx"]) -> torch.Tensor:
    """CVSM's global embedding `(B, embed_dim)` (unit norm) of log-mels `(B, 64, 1024)`.

    `cvsm` is a :class:`soundtrack.models.cvsm.CVSM`; `stem` picks its music or effects encoder.
    """
    encoders = {"music": cvsm.music, "sfx": cvsm.effects}
    if stem not in encoders:
        raise ValueError(f"unknown stem {stem!r}; expected 'music' or 'sfx'")
    return encoders[stem](mel.float()).embed  # (B, D)


def frechet_distance(a: np.ndarray, b: np.ndarray, *, eps: float = FAD_EPS) -> float:
    """FAD between Gaussian fits of embeddings `a (N, D)` and `b (M, D)` (module docstring).

    The matrix square root is scipy's `sqrtm` of `(S_a + eps I)(S_b + eps I)`, real part
    (its imaginary part is round-off); N or M = 1 gives a zero covariance.
    """
    from scipy.linalg import sqrtm

    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[1], f"{a.shape=} {b.shape=}"
    d = a.shape[1]
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)  # (D,)
    cov_a = (np.cov(a, rowvar=False) if len(a) > 1 else np.zeros((d, d))).reshape(d, d)  # (D, D)
    cov_b = (np.cov(b, rowvar=False) if len(b) > 1 else np.zeros((d, d))).reshape(d, d)
    cov_a, cov_b = cov_a + eps * np.eye(d), cov_b + eps * np.eye(d)
    covmean = np.real(sqrtm(cov_a @ cov_b))  # (D, D)
    fad = float(np.sum((mu_a - mu_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2.0 * np.trace(covmean))
    return max(fad, 0.0)  # round-off can leave -1e-12 for equal sets


__all__ = ["STATS_DIM", "cvsm_embedding", "frechet_distance", "stats_embedding", "stats_frames"]
