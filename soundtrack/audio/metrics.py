"""Audio-codec distances between a reference and an estimate (numpy/torch, no models).

Definitions (docs/method/codec.md), for mono waves trimmed to the shorter length:

- Multi-resolution STFT distance (Yamamoto et al. 2020, Parallel WaveGAN, eq. 3-5),
  over resolutions r = (n_fft, hop, win) of a Hann-windowed STFT magnitude S_r:

      SC_r  = ||S_r - S^_r||_F / ||S_r||_F                       # spectral convergence
      MAG_r = mean |log max(S_r, 1e-5) - log max(S^_r, 1e-5)|    # log-magnitude L1
      MR-STFT = mean_r (SC_r + MAG_r)

  with r in (512, 128), (1024, 256), (2048, 512) at 16 kHz (win = n_fft). The same terms,
  differentiable, are the vocoder's training loss (:func:`mr_stft_terms`).
- Log-spectral distance (dB), power P = |STFT|^2 with a floor:

      LSD = mean_t sqrt( mean_f (10 log10 max(P, floor) - 10 log10 max(P^, floor))^2 )

- Mel-cepstral distortion (dB), c = DCT-II (orthonormal) of the natural-log mel magnitude
  (64 Slaney mel bands), coefficients 1..n_mfcc-1 (c0, the energy, excluded), frames
  aligned one to one (no DTW: lengths match):

      MCD = mean_t (10 / ln 10) sqrt( 2 sum_d (c_{t,d} - c^_{t,d})^2 )
"""
from __future__ import annotations

import math

import librosa
import numpy as np
import scipy.fft
import torch

from soundtrack.config import AUDIO, AudioConfig

# (n_fft, hop, win) at 16 kHz; other rates scale them to the nearest power of two.
MR_STFT_RESOLUTIONS: tuple[tuple[int, int, int], ...] = ((512, 128, 512), (1024, 256, 1024), (2048, 512, 2048))
MAG_FLOOR = 1e-5  # log-magnitude floor of the MR-STFT terms (the log-mel's floor)
REF_RATE = AUDIO.sample_rate  # the rate MR_STFT_RESOLUTIONS are given at


def stft_magnitude(wave: torch.Tensor, *, n_fft: int, hop: int, win: int) -> torch.Tensor:
    """|STFT| of `(B, T)` with a periodic Hann window, centred: `(B, n_fft // 2 + 1, T // hop + 1)`."""
    assert wave.ndim == 2, f"expected (B, T), got {wave.shape=}"
    window = torch.hann_window(win, periodic=True, dtype=wave.dtype, device=wave.device)
    spec = torch.stft(wave, n_fft=n_fft, hop_length=hop, win_length=win, window=window,
                      center=True, pad_mode="reflect", return_complex=True)  # (B, F, frames)
    # sqrt(re^2 + im^2 + eps) rather than .abs(): a finite gradient at exact zeros.
    return torch.sqrt(spec.real.square() + spec.imag.square() + 1e-12)


def mr_stft_terms(ref: torch.Tensor, est: torch.Tensor, *,
                  resolutions: tuple[tuple[int, int, int], ...] = MR_STFT_RESOLUTIONS
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """(spectral convergence, log-magnitude L1), each a scalar mean over resolutions and items.

    `ref`, `est`: `(B, T)`; differentiable in both.
    """
    assert ref.shape == est.shape and ref.ndim == 2, f"{ref.shape=} {est.shape=}"
    sc_terms, mag_terms = [], []
    for n_fft, hop, win in resolutions:
        s_ref = stft_magnitude(ref, n_fft=n_fft, hop=hop, win=win)  # (B, F, frames)
        s_est = stft_magnitude(est, n_fft=n_fft, hop=hop, win=win)
        num = torch.linalg.vector_norm(s_ref - s_est, dim=(1, 2))  # (B,)
        den = torch.linalg.vector_norm(s_ref, dim=(1, 2)).clamp(min=1e-8)
        sc_terms.append((num / den).mean())
        log_ref = torch.log(s_ref.clamp(min=MAG_FLOOR))
        log_est = torch.log(s_est.clamp(min=MAG_FLOOR))
        mag_terms.append((log_ref - log_est).abs().mean())
    return torch.stack(sc_terms).mean(), torch.stack(mag_terms).mean()


def scaled_resolutions(sr: int) -> tuple[tuple[int, int, int], ...]:
    """:data:`MR_STFT_RESOLUTIONS` for sample rate `sr` (identity at 16 kHz)."""
    def p2(x: float) -> int:
        return 2 ** int(round(math.log2(x)))
    scale = sr / REF_RATE
    return tuple((p2(n * scale), p2(h * scale), p2(w * scale)) for n, h, w in MR_STFT_RESOLUTIONS)


def _pair(ref: np.ndarray | torch.Tensor, est: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Both as float64 1-D arrays, trimmed to the shorter length."""
    r = np.asarray(ref.detach().cpu() if isinstance(ref, torch.Tensor) else ref, dtype=np.float64)
    e = np.asarray(est.detach().cpu() if isinstance(est, torch.Tensor) else est, dtype=np.float64)
    assert r.ndim == 1 and e.ndim == 1, f"expected mono waves, got {r.shape=} {e.shape=}"
    n = min(len(r), len(e))
    assert n > 0, f"empty wave: {r.shape=} {e.shape=}"
    return r[:n], e[:n]


def mr_stft_distance(ref: np.ndarray | torch.Tensor, est: np.ndarray | torch.Tensor, sr: int) -> float:
    """Mean over resolutions of spectral convergence + log-magnitude L1 (0 for equal waves)."""
    r, e = _pair(ref, est)
    res = scaled_resolutions(sr)
    assert len(r) > res[-1][0] // 2, f"wave too short for n_fft={res[-1][0]}: {len(r)} samples"
    with torch.no_grad():
        sc, mag = mr_stft_terms(torch.from_numpy(r)[None], torch.from_numpy(e)[None], resolutions=res)
    return float(sc + mag)


def log_spectral_distance(ref: np.ndarray | torch.Tensor, est: np.ndarray | torch.Tensor, *,
                          n_fft: int = 1024, hop: int = 160, floor: float = 1e-8) -> float:
    """LSD in dB: RMS over frequency of the log-power difference, mean over frames."""
    r, e = _pair(ref, est)
    p_ref = np.abs(librosa.stft(r, n_fft=n_fft, hop_length=hop, window="hann", center=True)) ** 2  # (F, frames)
    p_est = np.abs(librosa.stft(e, n_fft=n_fft, hop_length=hop, window="hann", center=True)) ** 2
    diff = 10 * np.log10(np.maximum(p_ref, floor)) - 10 * np.log10(np.maximum(p_est, floor))
    return float(np.mean(np.sqrt(np.mean(diff ** 2, axis=0))))


def mel_cepstrum(wave: np.ndarray, sr: int, *, n_mfcc: int = 13, n_fft: int = 1024, hop: int = 160,
                 n_mels: int = 64) -> np.ndarray:
    """Mel-cepstrum `(n_mfcc, frames)`: orthonormal DCT-II of ln max(mel magnitude, 1e-5)."""
    mag = np.abs(librosa.stft(wave, n_fft=n_fft, hop_length=hop, window="hann", center=True))  # (F, frames)
    basis = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=0.0, fmax=sr / 2)  # (n_mels, F)
    log_mel = np.log(np.maximum(basis @ mag, AUDIO.log_floor))  # (n_mels, frames)
    return scipy.fft.dct(log_mel, type=2, norm="ortho", axis=0)[:n_mfcc]


def mel_cepstral_distortion(ref: np.ndarray | torch.Tensor, est: np.ndarray | torch.Tensor, sr: int, *,
                            n_mfcc: int = 13) -> float:
    """MCD in dB over coefficients 1..n_mfcc-1, frame-aligned, mean over frames."""
    r, e = _pair(ref, est)
    c_ref = mel_cepstrum(r, sr, n_mfcc=n_mfcc)[1:]  # (n_mfcc - 1, frames), c0 excluded
    c_est = mel_cepstrum(e, sr, n_mfcc=n_mfcc)[1:]
    per_frame = (10.0 / math.log(10.0)) * np.sqrt(2.0 * np.sum((c_ref - c_est) ** 2, axis=0))  # (frames,)
    return float(np.mean(per_frame))


def griffin_lim_from_mel(log_mel: np.ndarray | torch.Tensor, *, cfg: AudioConfig = AUDIO,
                         n_iter: int = 32, seed: int = 0) -> np.ndarray:
    """The reference mel inverter: log-mel `(64, F)` -> wave `((F - 1) * hop,)` float32.

    What `librosa.feature.inverse.mel_to_audio(exp(log_mel), power=1.0, ...)` does, in its two
    steps so the random phase init is seeded: NNLS inversion of the mel filterbank, then
    Griffin-Lim, with the front end's n_fft / hop / win / fmin / fmax.
    """
    m = np.asarray(log_mel.detach().cpu() if isinstance(log_mel, torch.Tensor) else log_mel, dtype=np.float64)
    assert m.ndim == 2 and m.shape[0] == cfg.n_mels, f"expected (64, F), got {m.shape=}"
    magnitude = librosa.feature.inverse.mel_to_stft(
        np.exp(m).astype(np.float32), sr=cfg.sample_rate, n_fft=cfg.n_fft, power=1.0, fmin=cfg.fmin, fmax=cfg.fmax,
    )  # (n_fft // 2 + 1, F)
    wave = librosa.griffinlim(
        magnitude, n_iter=n_iter, hop_length=cfg.hop_length, win_length=cfg.win_length, n_fft=cfg.n_fft,
        window="hann", center=True, pad_mode="reflect", length=(m.shape[1] - 1) * cfg.hop_length,
        random_state=seed,
    )
    return wave.astype(np.float32)
