"""The `vocoder` training stage: random crops of the corpus's stem WAVs, and the vocoder's loss.

Trained without a discriminator (docs/method/codec.md, "why no GAN"):

    L = w_stft * (SC + MAG)_{MR-STFT}  +  w_mel * | logmel(wave^) - logmel(wave) |_1

The model is soundtrack/models/vocoder.py. Train with
`python -m soundtrack.training vocoder --config NAME`.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from soundtrack.audio.mel import MelSpectrogram
from soundtrack.audio.metrics import MR_STFT_RESOLUTIONS, mr_stft_terms
from soundtrack.config import AUDIO, named_config
from soundtrack.corpus.cache import STEMS  # music, sfx, mix: every stem WAV of a corpus item
from soundtrack.errors import InputError
from soundtrack.models.vocoder import CONFIGS, Vocoder, VocoderConfig


class _WaveCrops:
    """Batch k: `batch_size` random `segment_s` crops of train-item WAVs (music, sfx, mix)."""

    def __init__(self, cfg: VocoderConfig, *, corpus: Path | None, device: torch.device) -> None:
        import soundfile as sf

        if corpus is None:
            raise InputError("the vocoder stage needs a corpus (--corpus DIR)")
        items = sorted(p.parent for p in (corpus / "train").glob("*/labels.json"))
        if not items:
            raise InputError(f"no items in {corpus / 'train'}: build the corpus first")
        self.files = [item / f"{stem}.wav" for item in items for stem in STEMS]
        self.lengths = [sf.info(os.fspath(f)).frames for f in self.files]
        self.cfg = cfg
        self.device = device
        self.mel = MelSpectrogram(AUDIO).to(device)
        short = min(self.lengths)
        assert short >= cfg.segment_samples, f"a file has {short} samples < {cfg.segment_samples=}"

    def batch(self, *, step: int, rank: int, world: int, seed: int) -> dict[str, torch.Tensor]:
        import soundfile as sf

        rng = np.random.default_rng([seed, step, rank])
        n = self.cfg.segment_samples
        idx = rng.integers(0, len(self.files), size=self.cfg.train.batch_size)
        waves = []
        for i in idx:
            start = int(rng.integers(0, self.lengths[i] - n + 1))
            wave, sr = sf.read(os.fspath(self.files[i]), start=start, frames=n, dtype="float32")
            assert sr == AUDIO.sample_rate and wave.shape == (n,), f"{self.files[i]}: {sr=} {wave.shape=}"
            waves.append(torch.from_numpy(wave))
        wave_t = torch.stack(waves).to(self.device)  # (B, T)
        with torch.no_grad():
            mel = self.mel(wave_t)  # (B, 64, T // 160 + 1)
        # Loss weights travel with the batch: the loss never reaches into a (DDP-wrapped) model.
        return {"wave": wave_t, "mel": mel,
                "stft_weight": torch.tensor(self.cfg.stft_weight, device=self.device),
                "mel_weight": torch.tensor(self.cfg.mel_weight, device=self.device)}


def vocoder_losses(wave: torch.Tensor, est: torch.Tensor, mel: torch.Tensor, *,
                   mel_fn: MelSpectrogram) -> dict[str, torch.Tensor]:
    """MR-STFT terms and the log-mel L1 between `(B, T)` waves; `mel` = logmel(wave) `(B, 64, F)`."""
    sc, mag = mr_stft_terms(wave, est, resolutions=MR_STFT_RESOLUTIONS)
    mel_l1 = (mel_fn(est) - mel).abs().mean()
    return {"sc": sc, "mag": mag, "mel_l1": mel_l1}


class VocoderStage:
    """The `vocoder` training stage (contract: soundtrack/training/stages.py)."""

    def __init__(self) -> None:
        self.mel_fn = MelSpectrogram(AUDIO)  # the loss's log-mel; moved to the batch's device

    def config(self, name: str) -> VocoderConfig:
        return named_config(CONFIGS, name, what="vocoder")

    def build(self, cfg: VocoderConfig) -> Vocoder:
        return Vocoder(cfg)

    def data(self, cfg: VocoderConfig, *, corpus: Path | None, device: torch.device) -> _WaveCrops:
        return _WaveCrops(cfg, corpus=corpus, device=device)

    def loss(self, model: nn.Module, batch: dict[str, torch.Tensor], *,
             step: int) -> tuple[torch.Tensor, dict[str, float]]:
        wave, mel = batch["wave"], batch["mel"]  # (B, T), (B, 64, F)
        est = model(mel)  # (B, (F - 1) * 160) = (B, T)
        assert est.shape == wave.shape, f"{est.shape=} {wave.shape=}"
        self.mel_fn = self.mel_fn.to(mel.device)
        terms = vocoder_losses(wave, est, mel, mel_fn=self.mel_fn)
        loss = batch["stft_weight"] * (terms["sc"] + terms["mag"]) + batch["mel_weight"] * terms["mel_l1"]
        return loss, {k: v.detach().item() for k, v in terms.items()}


__all__ = ["VocoderStage", "vocoder_losses"]
