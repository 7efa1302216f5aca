"""Differentiable log-mel front end, identical to the AudioLDM/MusicLDM one.

    S    = |STFT(wave)|                  # (B, n_fft/2+1, frames), magnitude (power 1)
    M    = F @ S                         # (B, n_mels, frames), F = librosa Slaney mel filterbank
    logM = log(max(M, log_floor))        # AudioLDM's dynamic-range compression

The STFT is centred with reflect padding, so ``frames = T // hop + 1``
(:meth:`AudioConfig.n_frames`). Everything is a torch op: gradients flow back to the
waveform, which SNIO relies on.
"""
from __future__ import annotations

import librosa
import numpy as np
import torch

from soundtrack.config import AUDIO, AudioConfig


class MelSpectrogram(torch.nn.Module):
    """Waveform ``(T,)`` or ``(B, T)`` -> log-mel ``(B, n_mels, T // hop + 1)``.

    Buffers (non-persistent, so checkpoints stay free of them): ``mel_basis``
    ``(n_mels, n_fft // 2 + 1)`` and a periodic Hann ``window`` ``(win_length,)``, stored
    in float64 and cast to the input's dtype, so the computation runs in the input's
    precision.
    """

    mel_basis: torch.Tensor
    window: torch.Tensor

    def __init__(self, cfg: AudioConfig = AUDIO) -> None:
        super().__init__()
        self.cfg = cfg
        basis = librosa.filters.mel(
            sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax
        )  # (n_mels, n_fft // 2 + 1), Slaney scale and area norm (librosa defaults)
        # Kept in float64 and cast per call: a float32 window leaks ~1e-7 of the peak into
        # every bin, which shows up in the log near the floor.
        self.register_buffer("mel_basis", torch.from_numpy(basis.astype(np.float64)), persistent=False)
        self.register_buffer(
            "window", torch.hann_window(cfg.win_length, periodic=True, dtype=torch.float64), persistent=False
        )  # (win_length,), periodic Hann = scipy.signal.get_window("hann", fftbins=True)

    def magnitude_mel(self, wave: torch.Tensor) -> torch.Tensor:
        """Mel magnitude ``F @ |STFT(wave)|`` before the log: ``(B, n_mels, frames)``."""
        if wave.ndim == 1:
            wave = wave.unsqueeze(0)  # (1, T)
        assert wave.ndim == 2, f"expected a waveform (T,) or (B, T), got {wave.shape=}"
        assert wave.is_floating_point(), f"expected a float waveform, got {wave.dtype=}"
        assert wave.shape[1] > self.cfg.n_fft // 2, (
            f"waveform too short for reflect padding: {wave.shape=}, n_fft={self.cfg.n_fft}"
        )
        spec = torch.stft(
            wave,
            n_fft=self.cfg.n_fft,
            hop_length=self.cfg.hop_length,
            win_length=self.cfg.win_length,
            window=self.window.to(dtype=wave.dtype),
            center=True,
            pad_mode="reflect",
            normalized=False,
            onesided=True,
            return_complex=True,
        )  # (B, n_fft // 2 + 1, frames), complex
        magnitude = spec.abs()  # (B, n_freq, frames)
        return torch.matmul(self.mel_basis.to(dtype=magnitude.dtype), magnitude)  # (B, n_mels, frames)

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """Log-mel ``log(clamp(F @ |STFT|, min=log_floor))``: ``(B, n_mels, T // hop + 1)``."""
        return torch.log(torch.clamp(self.magnitude_mel(wave), min=self.cfg.log_floor))


def log_mel(wave: torch.Tensor | np.ndarray, *, cfg: AudioConfig = AUDIO) -> torch.Tensor:
    """One-off log-mel of ``wave`` ``(T,)`` or ``(B, T)`` -> ``(B, n_mels, frames)``.

    Builds a :class:`MelSpectrogram` on the wave's device for this call; nothing is cached
    between calls (in a loop, build the module once and call it). NumPy input goes
    through :func:`torch.as_tensor`, so float64 stays float64.
    """
    wave_t = torch.as_tensor(wave)
    return MelSpectrogram(cfg).to(wave_t.device)(wave_t)
