"""The `cvsm` training stage: batches of whole train clips with a random gain per stem.

The losses (eqs. 4-7 of docs/method/cvsm.md) are computed by the model itself
(`soundtrack.models.cvsm.CVSM.forward`), so DDP sees every parameter used; this module
draws the batches and hands the model's total to the loop. Train with
`python -m soundtrack.training cvsm --config NAME`; the retrieval protocol (eq. 8) is
soundtrack/evaluation/retrieval.py.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from soundtrack.config import named_config
from soundtrack.corpus.cache import CorpusArrays, load_split
from soundtrack.errors import InputError
from soundtrack.models.cvsm import CONFIGS, CVSM, LOG_FLOOR, CVSMConfig


class CVSMBatches:
    """Random batches of whole train clips; batch k is a pure function of (seed, step, rank)."""

    def __init__(self, cfg: CVSMConfig, arrays: CorpusArrays, *, device: str | torch.device) -> None:
        self.cfg, self.arrays, self.device = cfg, arrays, torch.device(device)

    def batch(self, *, step: int, rank: int, world: int, seed: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([seed, step, rank])
        n, B = len(self.arrays), self.cfg.train.batch_size
        idx = torch.from_numpy(rng.choice(n, size=B, replace=n < B))  # distinct clips: no false negatives
        gain = rng.uniform(-self.cfg.gain_db, self.cfg.gain_db, size=(2, B)) * math.log(10) / 20  # dB -> ln
        gain = torch.from_numpy(gain).float()[:, :, None, None]  # (2, B, 1, 1)
        a = self.arrays
        out = {
            "video": a.video[idx],  # (B, 256, 14)
            "thumbs": a.thumbs[idx],  # (B, 256, 3, 32, 32) uint8
            "music_mel": (a.music_mel[idx].float() + gain[0]).clamp(min=LOG_FLOOR),  # (B, 64, 1024)
            "sfx_mel": (a.sfx_mel[idx].float() + gain[1]).clamp(min=LOG_FLOOR),
            "events": a.events[idx],  # (B, 256)
        }
        return {k: v.to(self.device) for k, v in out.items()}


class CVSMStage:
    """The `cvsm` training stage (contract: soundtrack/training/stages.py)."""

    def config(self, name: str) -> CVSMConfig:
        return named_config(CONFIGS, name, what="cvsm")

    def build(self, cfg: CVSMConfig) -> CVSM:
        return CVSM(cfg)

    def data(self, cfg: CVSMConfig, *, corpus: Path | None, device: str | torch.device) -> CVSMBatches:
        if corpus is None:
            raise InputError("the cvsm stage needs a corpus (--corpus DIR)")
        return CVSMBatches(cfg, load_split(Path(corpus), "train"), device=device)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], *, step: int
             ) -> tuple[torch.Tensor, dict[str, float]]:
        out = model(batch)  # through forward, so DDP hooks run
        return out["loss"], {k: float(v.detach()) for k, v in out.items() if k != "loss"}


__all__ = ["CVSMBatches", "CVSMStage"]
