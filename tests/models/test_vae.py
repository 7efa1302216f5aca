"""The mel VAE: shapes, the training stage through the real loop, export/load, determinism,
and an AudioLDM-layout AutoencoderKL dropped into MelVAE."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderKL
from safetensors.torch import load_file

from soundtrack.models.vae import CONFIGS, MelVAE, VAEConfig, VAEStage, build_vae, load_vae

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


def test_batches_are_deterministic(tiny_corpus: Path) -> None:
    data = VAEStage().data(TINY, corpus=tiny_corpus, device=torch.device("cpu"))
    a = data.batch(step=3, rank=0, world=1, seed=0)["mel"]
    b = data.batch(step=3, rank=0, world=1, seed=0)["mel"]
    c = data.batch(step=4, rank=0, world=1, seed=0)["mel"]
    assert a.shape == (TINY.train.batch_size, 64, TINY.crop_frames) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_train_export_load_and_determinism(tiny_corpus: Path, tmp_path: Path) -> None:
    from soundtrack.train import train

    for run in ("a", "b"):
        record = train("vae", "tiny", run_dir=tmp_path / run, corpus=tiny_corpus, max_steps=3, progress=False)
        assert record["step"] == 3 and {"l1", "kl", "latent_std"} <= record.keys()
    wa, wb = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)

    # The in-memory model at the end of training (from the resume checkpoint) vs load_vae.
    in_memory = MelVAE(TINY)
    in_memory.load_state_dict(torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"])
    in_memory.eval()
    loaded = load_vae(tmp_path / "a")
    assert isinstance(loaded.cfg, VAEConfig) and loaded.cfg == TINY and not loaded.training
    mel = torch.randn(2, 64, 32) - 5.0
    with torch.no_grad():
        assert torch.equal(loaded.decode(loaded.encode(mel)), in_memory.decode(in_memory.encode(mel)))
