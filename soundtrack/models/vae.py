"""The mel VAE: a diffusers `AutoencoderKL` over the log-mel laid out as a one-channel image.

    mel  (B, 64, T)  --normalise, transpose-->  x (B, 1, T, 64)     # time as height (AudioLDM layout)
    x    --encoder, 2 downsamplings-->          z (B, 8, T/4, 16)   # 4x in time and in mel frequency
    z    --decoder-->  x_hat (B, 1, T, 64)  --de-normalise-->  mel_hat (B, 64, T)

The layout (in/out channels 1, three `DownEncoderBlock2D`, latent 8) is AudioLDM's, so an
AudioLDM-family pretrained VAE drops into :class:`MelVAE` (with `mel_mean=0, mel_std=1`:
those VAEs read the raw log-mel). Training loss (docs/method/codec.md):

    L = | (mel_hat - mel) / mel_std |_1  +  kl_weight * KL(q(z|mel) || N(0, I))

both as means over elements. The encoder's posterior is a diagonal Gaussian; `encode`
returns its mode unless `sample=True`. Latents are returned unscaled.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from soundtrack.config import AUDIO, TIMING, TrainConfig
from soundtrack.models.checkpoint import load_run

if TYPE_CHECKING:  # diffusers is imported when a VAE is built, not with this module (the stage table)
    from diffusers import AutoencoderKL
    from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

TIME_COMPRESSION = TIMING.time_compression  # 4: two stride-2 downsamplings
FREQ_COMPRESSION = TIMING.freq_compression  # 4


@dataclass(frozen=True)
class VAEConfig:
    block_out_channels: tuple[int, ...] = (16, 32, 64)  # 3 blocks -> 2 downsamplings
    layers_per_block: int = 1
    latent_channels: int = 8
    norm_num_groups: int = 8
    kl_weight: float = 1e-4  # on the per-element KL mean, against the per-element L1
    # Normalisation of the log-mel (nats). Measured on a 20-item corpus (music, sfx and
    # mix stems of the train split): mean -5.33, std 3.40; floor log(1e-5) = -11.5.
    mel_mean: float = -5.0
    mel_std: float = 3.5
    crop_frames: int = 256  # training crop, mel frames (2.56 s); a multiple of 4
    mid_block_attention: bool = True  # AudioLDM has self-attention in the mid block
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        assert len(self.block_out_channels) == 3, f"{self.block_out_channels=}: 3 blocks give 4x compression"
        assert self.crop_frames % TIME_COMPRESSION == 0, f"{self.crop_frames=} is not a multiple of 4"


CONFIGS: dict[str, VAEConfig] = {
    "tiny": VAEConfig(
        block_out_channels=(8, 16, 16), layers_per_block=1, norm_num_groups=4, crop_frames=32,
        mid_block_attention=False,
        train=TrainConfig(steps=20, batch_size=2, lr=1e-3, warmup=2, log_every=1, ckpt_every=10),
    ),
    # Bundled CPU model, 0.69 M parameters: 0.37 s/step at batch 8 x 256 frames on 2 threads
    # (docs/method/codec.md).
    "small": VAEConfig(
        block_out_channels=(16, 32, 64), layers_per_block=1, norm_num_groups=8, crop_frames=256,
        train=TrainConfig(steps=1500, batch_size=8, lr=5e-4, warmup=50, log_every=25, ckpt_every=250),
    ),
    "gpu": VAEConfig(
        block_out_channels=(128, 256, 512), layers_per_block=2, norm_num_groups=32, crop_frames=512,
        train=TrainConfig(steps=40_000, batch_size=32, lr=2e-4, warmup=1000, log_every=100, ckpt_every=2000),
    ),
}


def build_vae(cfg: VAEConfig) -> AutoencoderKL:
    """The AudioLDM-layout AutoencoderKL: (B, 1, T, 64) <-> (B, latent_channels, T/4, 16)."""
    from diffusers import AutoencoderKL

    n = len(cfg.block_out_channels)
    return AutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        latent_channels=cfg.latent_channels,
        norm_num_groups=cfg.norm_num_groups,
        sample_size=cfg.crop_frames,
        mid_block_add_attention=cfg.mid_block_attention,
    )


class MelVAE(torch.nn.Module):
    """Log-mel `(B, 64, T)` <-> latent `(B, C, T/4, 16)`, normalisation inside.

    `autoencoder` defaults to :func:`build_vae(cfg)`; pass another (e.g. a pretrained
    AudioLDM VAE) to use it with this front end.
    """

    def __init__(self, cfg: VAEConfig, *, autoencoder: AutoencoderKL | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.autoencoder = autoencoder if autoencoder is not None else build_vae(cfg)

    def _to_image(self, mel: torch.Tensor) -> torch.Tensor:
        assert mel.ndim == 3 and mel.shape[1] == AUDIO.n_mels, f"expected (B, 64, T), got {mel.shape=}"
        assert mel.shape[2] % TIME_COMPRESSION == 0, f"T must be a multiple of 4, got {mel.shape=}"
        x = (mel - self.cfg.mel_mean) / self.cfg.mel_std  # (B, 64, T)
        return x.transpose(1, 2).unsqueeze(1)  # (B, 1, T, 64)

    def _from_image(self, x: torch.Tensor) -> torch.Tensor:
        mel = x.squeeze(1).transpose(1, 2)  # (B, 64, T)
        return mel * self.cfg.mel_std + self.cfg.mel_mean

    def posterior(self, mel: torch.Tensor) -> DiagonalGaussianDistribution:
        """q(z | mel): a diagonal Gaussian over `(B, C, T/4, 16)`."""
        return self.autoencoder.encode(self._to_image(mel)).latent_dist

    def encode(self, mel: torch.Tensor, *, sample: bool = False,
               generator: torch.Generator | None = None) -> torch.Tensor:
        """Log-mel `(B, 64, T)` -> latent `(B, C, T/4, 16)` (posterior mode, or a sample)."""
        post = self.posterior(mel)
        z = post.sample(generator=generator) if sample else post.mode()  # (B, C, T/4, 16)
        return z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent `(B, C, T/4, 16)` -> log-mel `(B, 64, T)`."""
        assert z.ndim == 4 and z.shape[3] == AUDIO.n_mels // FREQ_COMPRESSION, (
            f"expected (B, C, T/4, 16), got {z.shape=}")
        x = self.autoencoder.decode(z).sample  # (B, 1, T, 64)
        return self._from_image(x)

    def forward(self, mel: torch.Tensor, *,
                sample: bool = True) -> tuple[torch.Tensor, DiagonalGaussianDistribution]:
        """Training pass: (reconstructed log-mel `(B, 64, T)`, posterior).
        Sampling uses torch's global RNG."""
        post = self.posterior(mel)
        z = post.sample() if sample else post.mode()  # (B, C, T/4, 16)
        return self.decode(z), post


def load_vae(run_dir: Path, *, device: torch.device | str = "cpu") -> MelVAE:
    """The trained VAE of a run: `RUN/config.json` + `RUN/model.safetensors`, in eval mode."""
    return load_run(MelVAE, VAEConfig, run_dir, stage="vae", device=device)

