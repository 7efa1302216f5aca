"""Pretrained encoders as CVSM plug-ins, for users who have the weights on disk.

- `ClapMusicEncoder`: LAION CLAP's audio tower (e.g. `laion/larger_clap_music`), waveform at
  16 kHz -> CVSM embedding (docs/method/cvsm.md, eq. 9).
- `ClipVideoEncoder`: CLIP's vision tower (e.g. `openai/clip-vit-base-patch32`) per frame ->
  time-aligned tokens and a pooled embedding (eq. 10).
Only the projections are trained; the backbones are frozen by default. `from_local` reads a
folder written by `save_pretrained` with `local_files_only=True`: nothing is ever
downloaded, and a missing folder raises a one-line InputError.
"""
from __future__ import annotations

from math import gcd
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from soundtrack.errors import InputError
from soundtrack.models.cvsm import Encoded

MODEL_RATE = 16_000  # the project's audio rate (AUDIO.sample_rate)


def _check_folder(path: Path, *, what: str, example: str) -> Path:
    path = Path(path)
    if not (path / "config.json").is_file():
        raise InputError(f"no {what} weights in {path}: put a save_pretrained folder there "
                         f"(e.g. {example}); nothing is downloaded")
    return path


def resample_poly(wave: np.ndarray, *, sr_in: int, sr_out: int) -> np.ndarray:
    """Polyphase resampling along the last axis (scipy, Kaiser-windowed FIR anti-aliasing)."""
    from scipy.signal import resample_poly as _resample

    g = gcd(sr_in, sr_out)
    return _resample(wave, sr_out // g, sr_in // g, axis=-1)


class _FrozenBackbone(nn.Module):
    """Keeps a frozen backbone in eval mode (no dropout) whatever `.train()` says."""

    backbone: nn.Module
    frozen: bool

    def _freeze(self, frozen: bool) -> None:
        self.frozen = frozen
        self.backbone.requires_grad_(not frozen)
        if frozen:
            self.backbone.eval()

    def train(self, mode: bool = True):
        super().train(mode)
        if self.frozen:
            self.backbone.eval()
        return self


class ClapMusicEncoder(_FrozenBackbone):
    """Waveform (B, T) at 16 kHz -> unit-norm embedding (B, embed_dim) in the CVSM space (eq. 9).

    1. resample to the extractor's rate (48 kHz for LAION CLAP) with a polyphase filter;
    2. centre-crop to the extractor's `max_length_s` (10 s) and take CLAP's own log-mel
       (`ClapFeatureExtractor`; `is_longer` is False for every item, so no random crops);
    3. `ClapModel.get_audio_features` (normalised CLAP embedding, projection_dim);
    4. a trained linear projection into the CVSM space, then L2 normalisation.
    """

    def __init__(self, clap: nn.Module, feature_extractor, *, embed_dim: int, freeze: bool = True) -> None:
        super().__init__()
        self.backbone = clap
        self.feature_extractor = feature_extractor
        self.proj = nn.Linear(clap.config.projection_dim, embed_dim)
        self._freeze(freeze)

    @classmethod
    def from_local(cls, path: Path, *, embed_dim: int, freeze: bool = True) -> ClapMusicEncoder:
        from transformers import ClapFeatureExtractor, ClapModel

        path = _check_folder(path, what="CLAP", example="laion/larger_clap_music")
        try:
            clap = ClapModel.from_pretrained(path, local_files_only=True)
            has_fe = (path / "preprocessor_config.json").is_file()
            fe = ClapFeatureExtractor.from_pretrained(path, local_files_only=True) if has_fe else ClapFeatureExtractor()
        except OSError as err:
            raise InputError(f"cannot load CLAP from {path}: {str(err).splitlines()[0]}") from err
        return cls(clap, fe, embed_dim=embed_dim, freeze=freeze)

    def clap_features(self, wave: torch.Tensor) -> torch.Tensor:
        """CLAP's own normalised audio embedding (B, projection_dim) (steps 1-3)."""
        assert wave.ndim == 2, f"expected (B, T) at 16 kHz, got {wave.shape=}"
        fe = self.feature_extractor
        # 1. Resample 16 kHz -> fe.sampling_rate (numpy: the extractor is numpy anyway).
        x = resample_poly(wave.detach().cpu().double().numpy(), sr_in=MODEL_RATE, sr_out=fe.sampling_rate)
        # 2. Centre crop to max length; CLAP's log-mel.
        n = int(fe.nb_max_samples)
        if x.shape[1] > n:
            start = (x.shape[1] - n) // 2
            x = x[:, start:start + n]
        fusion = bool(getattr(self.backbone.config.audio_config, "enable_fusion", False))
        inputs = fe(list(x), sampling_rate=fe.sampling_rate, truncation="fusion" if fusion else "rand_trunc",
                    return_tensors="pt")
        feats = inputs["input_features"].to(device=self.proj.weight.device, dtype=self.proj.weight.dtype)
        is_longer = torch.zeros(len(x), 1, dtype=torch.bool, device=feats.device)  # (B, 1)
        # 3. The audio tower and CLAP's projection.
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
            out = self.backbone.get_audio_features(input_features=feats, is_longer=is_longer)
        return out.pooler_output  # (B, projection_dim), unit norm

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.proj(self.clap_features(wave)), dim=-1)  # (B, embed_dim), eq. 9


class ClipVideoEncoder(_FrozenBackbone):
    """Frames (B, N, 3, H, W) uint8 -> Encoded: tokens (B, N, token_dim), embed (B, embed_dim) (eq. 10).

    Each frame goes through CLIP's vision tower and visual projection (the "CLIP ViT-B/32
    frame features" of the public code); a trained linear map turns each frame feature into
    a token (frame k <-> token k, so 25 frames/s video gives latent-rate tokens) and the mean
    frame feature into the pooled embedding.
    """

    def __init__(self, vision: nn.Module, *, token_dim: int, embed_dim: int, freeze: bool = True,
                 chunk: int = 64) -> None:
        from transformers.utils.constants import OPENAI_CLIP_MEAN, OPENAI_CLIP_STD

        super().__init__()
        self.backbone = vision
        self.chunk = chunk
        dim = vision.config.projection_dim
        self.to_tokens = nn.Linear(dim, token_dim)
        self.to_embed = nn.Linear(dim, embed_dim)
        self.register_buffer("mean", torch.tensor(OPENAI_CLIP_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(OPENAI_CLIP_STD).view(1, 3, 1, 1), persistent=False)
        self._freeze(freeze)

    @classmethod
    def from_local(cls, path: Path, *, token_dim: int, embed_dim: int, freeze: bool = True) -> ClipVideoEncoder:
        from transformers import CLIPVisionModelWithProjection

        path = _check_folder(path, what="CLIP", example="openai/clip-vit-base-patch32")
        try:
            vision = CLIPVisionModelWithProjection.from_pretrained(path, local_files_only=True)
        except OSError as err:
            raise InputError(f"cannot load CLIP from {path}: {str(err).splitlines()[0]}") from err
        return cls(vision, token_dim=token_dim, embed_dim=embed_dim, freeze=freeze)

    def frame_features(self, frames: torch.Tensor) -> torch.Tensor:
        """CLIP image embeddings per frame: (B, N, 3, H, W) uint8 -> (B, N, projection_dim)."""
        B, N, C, H, W = frames.shape
        assert C == 3 and frames.dtype == torch.uint8, f"{frames.shape=} {frames.dtype=}"
        size = self.backbone.config.image_size
        out = []
        for x in frames.flatten(0, 1).split(self.chunk):  # (b, 3, H, W)
            x = x.to(self.mean.device).float() / 255.0
            x = F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False)
            x = (x.clamp(0, 1) - self.mean) / self.std  # (b, 3, size, size), CLIP normalisation
            with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen):
                out.append(self.backbone(pixel_values=x).image_embeds)  # (b, projection_dim)
        return torch.cat(out).view(B, N, -1)

    def forward(self, frames: torch.Tensor) -> Encoded:
        f = self.frame_features(frames)  # (B, N, P)
        tokens = self.to_tokens(f)  # (B, N, token_dim)
        embed = F.normalize(self.to_embed(f.mean(dim=1)), dim=-1)  # (B, embed_dim), eq. 10
        return Encoded(tokens, embed)
