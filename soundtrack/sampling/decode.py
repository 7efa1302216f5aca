"""Latents to sound: the two-stem latent -> log-mels (VAE decoder) -> waves (vocoder).

One path for every caller: SNIO decodes through it with gradient, the pipeline and the
studio's previews without.
"""
from __future__ import annotations

import torch
from torch import Tensor

from soundtrack.config import AUDIO, TIMING
from soundtrack.models.ldm import split_stems


def decode_stems(vae: torch.nn.Module, z: Tensor, scaling: Tensor | float) -> tuple[Tensor, Tensor]:
    """Scaled two-stem latent (B, 8, Tl, 32) -> (music, effects) log-mels (B, 64, 4 Tl), differentiable."""
    z_music, z_sfx = split_stems(z / float(scaling))
    mels = vae.decode(torch.cat([z_music, z_sfx]))  # one batch for both stems
    return mels.chunk(2)


def vocode(vocoder: torch.nn.Module, mel: Tensor) -> Tensor:
    """Log-mels (B, 64, 1024) -> waves (B, 163840): exactly one window (10.24 s).

    The corpus mels drop the STFT's last frame (1025 -> 1024, so 4x compression divides);
    repeating the last frame restores it, and the vocoder's (F - 1) * 160 samples for
    F = 1025 are the window's 163840.
    """
    assert mel.ndim == 3 and mel.shape[1] == AUDIO.n_mels, f"{mel.shape=}"
    full = torch.cat([mel, mel[..., -1:]], dim=-1)  # (B, 64, F + 1)
    wave = vocoder(full)  # (B, F * 160)
    assert mel.shape[-1] != TIMING.mel_frames or wave.shape[-1] == TIMING.clip_samples, f"{wave.shape=}"
    return wave


__all__ = ["decode_stems", "vocode"]
