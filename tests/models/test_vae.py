"""The mel VAE: shapes, the compression constants, and an AudioLDM-layout AutoencoderKL
dropped into MelVAE (training, export and load: tests/training/test_vae.py)."""
from __future__ import annotations

import dataclasses
import pytest
import torch
from diffusers import AutoencoderKL

from soundtrack.config import TIMING
from soundtrack.models.vae import CONFIGS, FREQ_COMPRESSION, TIME_COMPRESSION, MelVAE, build_vae

TINY = CONFIGS["tiny"]


def test_shapes_round_trip() -> None:
    torch.manual_seed(0)
    vae = MelVAE(TINY).eval()
    mel = torch.randn(2, 64, 48) - 5.0  # (B, 64, T)
    with torch.no_grad():
        z = vae.encode(mel)
        z_s = vae.encode(mel, sample=True, generator=torch.Generator().manual_seed(0))
        recon = vae.decode(z)
        recon_f, post = vae(mel, sample=False)
    assert z.shape == (2, 8, 12, 16), f"{z.shape=}"
    assert z_s.shape == z.shape and not torch.equal(z_s, z)
    assert recon.shape == mel.shape, f"{recon.shape=}"
    assert torch.allclose(recon_f, recon) and post.mean.shape == z.shape
    with pytest.raises(AssertionError, match="multiple of 4"):
        vae.encode(torch.randn(1, 64, 30))


def test_build_vae_is_audioldm_layout() -> None:
    ae = build_vae(TINY)
    assert ae.config.in_channels == 1 and ae.config.out_channels == 1 and ae.config.latent_channels == 8
    assert list(ae.config.down_block_types) == ["DownEncoderBlock2D"] * 3


def test_audioldm_layout_autoencoder_drops_in() -> None:
    """A random-weight AutoencoderKL built like AudioLDM's VAE config (channels shrunk)."""
    torch.manual_seed(0)
    ae = AutoencoderKL(
        in_channels=1, out_channels=1, latent_channels=8, layers_per_block=2, norm_num_groups=4,
        block_out_channels=(8, 16, 16), down_block_types=("DownEncoderBlock2D",) * 3,
        up_block_types=("UpDecoderBlock2D",) * 3, sample_size=512, scaling_factor=0.9227914214134216,
    )
    cfg = dataclasses.replace(TINY, mel_mean=0.0, mel_std=1.0)  # AudioLDM reads the raw log-mel
    vae = MelVAE(cfg, autoencoder=ae).eval()
    mel = torch.randn(1, 64, 64) - 5.0
    with torch.no_grad():
        z = vae.encode(mel)
        recon = vae.decode(z)
    assert z.shape == (1, 8, 16, 16) and recon.shape == mel.shape, f"{z.shape=} {recon.shape=}"


def test_compression_is_the_timing_of_the_project() -> None:
    assert TIME_COMPRESSION == TIMING.time_compression == 4
    assert FREQ_COMPRESSION == TIMING.freq_compression == 4
    vae = MelVAE(TINY).eval()
    with torch.no_grad():
        z = vae.encode(torch.randn(1, 64, TIMING.mel_frames) - 5.0)
    assert z.shape[2:] == (TIMING.latent_frames, TIMING.latent_bins), f"{z.shape=}"
