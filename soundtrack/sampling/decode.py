"""Latents to sound: the two-stem latent -> log-mels (VAE decoder) -> waves (vocoder).

One path for every caller: SNIO decodes through it with gradient, the pipeline and the
studio's previews without.
"""
from __future__ import annotations

import functools

import torch
from torch import Tensor

from soundtrack.config import AUDIO, TIMING
from soundtrack.models.ldm import is_score_model, split_stems


def decode_stems(vae: torch.nn.Module, z: Tensor, scaling: Tensor | float) -> tuple[Tensor, Tensor]:
    """Scaled two-stem latent (B, 8, Tl, 32) -> (music, effects) log-mels (B, 64, 4 Tl), differentiable."""
    z_music, z_sfx = split_stems(z / float(scaling))
    mels = vae.decode(torch.cat([z_music, z_sfx]))  # one batch for both stems
    return mels.chunk(2)


def roll_mel(roll: Tensor) -> Tensor:
    """Note roll (B, 8, Tl, 16) -> a log-mel stand-in (B, 64, 4 Tl) for SNIO and previews, differentiable.

    Each cell's activity (r + 1) / 2, clipped to [0, 1], puts energy in the codec's 64 mel
    bins through the roll's spectrum template (score.md eq. S5) and is held for the 4 mel
    frames of its latent frame; the log floor is the codec's. It shows where notes sound and
    where they start, not how an instrument sounds (the render stage does that).
    """
    W = _mel_template(AUDIO.n_mels).to(roll)  # (8, 16, 64)
    act = ((roll + 1) / 2).clamp(0, 1)
    energy = torch.einsum("bctd,cdf->bft", act, W)  # (B, 64, Tl)
    energy = energy.repeat_interleave(TIMING.time_compression, dim=-1)  # (B, 64, 4 Tl)
    return torch.log(AUDIO.log_floor + 0.1 * energy)


@functools.lru_cache(maxsize=2)
def _mel_template(n_mels: int) -> Tensor:
    """The roll's spectrum template at the codec's mel bins, built once (~0.25 s; SNIO reads it
    at every iteration)."""
    from soundtrack.music.score import roll_mel_template

    return torch.from_numpy(roll_mel_template(n_mels))


def decode_for(model: torch.nn.Module, vae: torch.nn.Module, z: Tensor) -> tuple[Tensor, Tensor]:
    """The two stems' log-mels of a latent, whatever the model's music stem: a mel latent is
    decoded by the VAE (:func:`decode_stems`), a note roll becomes its stand-in (:func:`roll_mel`)."""
    if not is_score_model(model):
        return decode_stems(vae, z, model.latent_scale)
    roll, z_sfx = split_stems(z)
    return roll_mel(roll), vae.decode(z_sfx / float(model.latent_scale))


def roll_of(model: torch.nn.Module, z: Tensor) -> Tensor | None:
    """The note roll (B, 8, Tl, 16) of a score model's latent; None for a neural model."""
    return split_stems(z)[0] if is_score_model(model) else None


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


__all__ = ["decode_for", "decode_stems", "roll_mel", "roll_of", "vocode"]
