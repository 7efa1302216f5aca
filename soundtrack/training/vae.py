"""The `vae` training stage: random crops of the corpus's mels, and the VAE's loss.

    L = | (mel_hat - mel) / mel_std |_1  +  kl_weight * KL(q(z|mel) || N(0, I))

both as means over elements (docs/method/codec.md); the model is
soundtrack/models/vae.py. Train with `python -m soundtrack.training vae --config NAME`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from soundtrack.config import named_config
from soundtrack.corpus.cache import load_split
from soundtrack.errors import InputError
from soundtrack.models.vae import CONFIGS, MelVAE, VAEConfig


class _MelCrops:
    """Batch k: `batch_size` random crops of the train split's music, sfx and mix mels."""

    def __init__(self, cfg: VAEConfig, *, corpus: Path | None, device: torch.device) -> None:
        if corpus is None:
            raise InputError("the vae stage needs a corpus (--corpus DIR)")
        arrays = load_split(corpus, "train")
        self.mels = torch.cat([arrays.music_mel, arrays.sfx_mel, arrays.mix_mel])  # (3N, 64, 1024) float16
        self.cfg = cfg
        self.device = device
        assert self.mels.shape[2] >= cfg.crop_frames, f"{self.mels.shape=} shorter than {cfg.crop_frames=}"

    def batch(self, *, step: int, rank: int, world: int, seed: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([seed, step, rank])
        b, crop = self.cfg.train.batch_size, self.cfg.crop_frames
        idx = rng.integers(0, len(self.mels), size=b)
        start = rng.integers(0, self.mels.shape[2] - crop + 1, size=b)
        mel = torch.stack([self.mels[i, :, s:s + crop] for i, s in zip(idx, start)]).float()  # (B, 64, crop)
        # Loss weights travel with the batch (the data source has the config; the loss must
        # not reach into a possibly DDP-wrapped model): 1/mel_std puts the L1 in normalised units.
        return {
            "mel": mel.to(self.device),
            "l1_weight": torch.tensor(1.0 / self.cfg.mel_std, device=self.device),
            "kl_weight": torch.tensor(self.cfg.kl_weight, device=self.device),
        }


class VAEStage:
    """The `vae` training stage (contract: soundtrack/training/stages.py)."""

    def config(self, name: str) -> VAEConfig:
        return named_config(CONFIGS, name, what="vae")

    def build(self, cfg: VAEConfig) -> MelVAE:
        return MelVAE(cfg)

    def data(self, cfg: VAEConfig, *, corpus: Path | None, device: torch.device) -> _MelCrops:
        return _MelCrops(cfg, corpus=corpus, device=device)

    def loss(self, model: torch.nn.Module, batch: dict[str, torch.Tensor], *,
             step: int) -> tuple[torch.Tensor, dict[str, float]]:
        mel = batch["mel"]  # (B, 64, T)
        recon, post = model(mel)  # (B, 64, T), q(z|mel) over (B, C, T/4, 16)
        l1 = (recon - mel).abs().mean() * batch["l1_weight"]  # normalised units
        kl = (post.kl() / post.mean[0].numel()).mean()  # per latent element
        loss = l1 + batch["kl_weight"] * kl
        logs = {"l1": l1.detach().item(), "kl": kl.detach().item(),
                "latent_std": post.mean.detach().std().item()}
        return loss, logs


__all__ = ["VAEStage"]
