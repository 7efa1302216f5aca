"""CVSM: contrastive visual-sound-music pretraining (docs/method/cvsm.md).

Three encoders map a clip's video, its effects stem and its music stem into one feature
space, each giving
- time-aligned tokens `(B, 256, token_dim)` at 25 frames/s (token k <-> video frame k <->
  latent frame k), which later condition the diffusion UNet (`video_tokens`), and
- a global L2-normalised embedding `(B, embed_dim)`.
Training (eq. 7) sums a CLIP-style symmetric InfoNCE over the pairs (video, music),
(video, effects), (effects, music) (eqs. 4-5) and a time-local InfoNCE between video and
effects tokens of the same clip, anchored on effect onsets (eq. 6).

The losses are part of the model (`CVSM.forward`); the `cvsm` training stage (batches,
augmentation) is soundtrack/training/cvsm.py, the retrieval protocol (eq. 8)
soundtrack/evaluation/retrieval.py; `load_cvsm` reads an exported run.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from soundtrack.config import AUDIO, TIMING, TrainConfig
from soundtrack.models.checkpoint import load_run
from soundtrack.video.matrix import N_FEATURES, THUMB

# Fixed log-mel normalisation (eq. 2b). Natural-log magnitudes lie in [log 1e-5, ~2] = [-11.5, 2];
# over the corpus the music stem has mean -4.1 (std 1.9) and the sparse effects stem -8.2 (3.9).
MEL_MEAN = -5.0
MEL_STD = 3.0
LOG_FLOOR = math.log(AUDIO.log_floor)
MAX_LOGIT_SCALE = math.log(100.0)  # CLIP's clamp: temperature >= 0.01
N_MELS = AUDIO.n_mels
DOWNSAMPLE = TIMING.time_compression  # 4 mel frames (100/s) per token (25/s)


@dataclass(frozen=True)
class CVSMConfig:
    """Sizes of the three encoders and the loss settings."""

    embed_dim: int = 128  # shared global space (eqs. 1-3)
    token_dim: int = 128  # time-aligned tokens handed to the UNet
    hidden: int = 128  # width of the temporal stacks
    layers: int = 6  # dilated residual blocks per encoder (dilations 1, 2, 4, 8, 16, 1, ...)
    cnn_channels: tuple[int, ...] = (24, 32)  # frame CNN: a 4x4-patch conv, then stride-2 3x3 convs
    pool_bins: int = 16  # time profile in the global embedding: bins over the 256 tokens (eq. 1)
    bin_dim: int = 8  # numbers per bin
    temperature: float = 0.07  # initial tau of eqs. 4 and 6
    local_weight: float = 1.0  # lambda of eq. 7
    local_tolerance: int = 1  # frames |t - t'| <= this around an anchor are not negatives (eq. 6)
    gain_db: float = 6.0  # augmentation: each stem's mel gets a random gain in [-g, g] dB
    train: TrainConfig = field(default_factory=TrainConfig)


CONFIGS: dict[str, CVSMConfig] = {
    "tiny": CVSMConfig(embed_dim=32, token_dim=32, hidden=32, layers=2, cnn_channels=(8, 16),
                       train=TrainConfig(steps=30, batch_size=4, lr=3e-3, warmup=3, log_every=1,
                                         ckpt_every=1000)),
    # The bundled CPU model: 0.36 CPU-s per step at one thread, ~12 min for 2000 steps (docs/method/cvsm.md).
    "small": CVSMConfig(embed_dim=128, token_dim=128, hidden=96, layers=6, cnn_channels=(24, 32),
                        train=TrainConfig(steps=2000, batch_size=12, lr=1e-3, warmup=100,
                                          weight_decay=0.01, log_every=10, ckpt_every=200)),
    "gpu": CVSMConfig(embed_dim=256, token_dim=256, hidden=256, layers=10, cnn_channels=(64, 128),
                      train=TrainConfig(steps=20_000, batch_size=64, lr=5e-4, warmup=500,
                                        weight_decay=0.01, log_every=50, ckpt_every=1000)),
}


class Encoded(NamedTuple):
    tokens: torch.Tensor  # (B, 256, token_dim), 25 frames/s
    embed: torch.Tensor  # (B, embed_dim), unit norm


class _ChannelNorm(nn.LayerNorm):
    """LayerNorm over the channels of a `(B, C, T)` sequence, per time step."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)


class _ResBlock(nn.Module):
    """x + W2 GELU(W1_dilated Norm(x)): non-causal, kernel 3, on `(B, C, T)`."""

    def __init__(self, channels: int, *, dilation: int) -> None:
        super().__init__()
        self.norm = _ChannelNorm(channels)
        self.conv = nn.Conv1d(channels, channels, 3, padding=dilation, dilation=dilation)
        self.out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.out(F.gelu(self.conv(self.norm(x))))


class _TemporalHead(nn.Module):
    """Dilated residual stack, then eq. 1: tokens, and the embedding pooled from the tokens.

    The embedding sees the mean token and a coarse time profile (the tokens averaged in
    `pool_bins` bins, 0.64 s each for 16, each squeezed to `bin_dim` numbers): *when* things
    happen (effects, cuts, beat phase) identifies a clip as much as *what* it holds.
    Pooling the tokens (not the hidden states) puts every token parameter of all three
    encoders in the graph of the global loss (the music tokens have no local term), which
    DDP requires, and makes the tokens carry the clip-level content the UNet needs.
    """

    def __init__(self, cfg: CVSMConfig) -> None:
        super().__init__()
        dilations = [2 ** (i % 5) for i in range(cfg.layers)]  # receptive field 63 frames for 5 blocks
        self.blocks = nn.Sequential(*[_ResBlock(cfg.hidden, dilation=d) for d in dilations])
        self.norm = _ChannelNorm(cfg.hidden)
        self.to_tokens = nn.Linear(cfg.hidden, cfg.token_dim)
        self.token_norm = nn.LayerNorm(cfg.token_dim)
        self.bins = cfg.pool_bins
        self.to_bin = nn.Linear(cfg.token_dim, cfg.bin_dim)
        self.to_embed = nn.Linear(cfg.token_dim + cfg.pool_bins * cfg.bin_dim, cfg.embed_dim)

    def forward(self, h: torch.Tensor) -> Encoded:
        assert h.ndim == 3 and h.shape[2] == TIMING.latent_frames, f"{h.shape=}"
        h = self.norm(self.blocks(h)).transpose(1, 2)  # (B, 256, hidden)
        tokens = self.token_norm(self.to_tokens(h))  # (B, 256, token_dim), eq. 1
        B = tokens.shape[0]
        profile = F.adaptive_avg_pool1d(tokens.transpose(1, 2), self.bins).transpose(1, 2)  # (B, P, D)
        pooled = torch.cat([tokens.mean(dim=1), self.to_bin(profile).reshape(B, -1)], dim=-1)  # (B, D+P*d_p)
        embed = F.normalize(self.to_embed(pooled), dim=-1)  # (B, embed_dim), eq. 1
        return Encoded(tokens, embed)


class VideoEncoder(nn.Module):
    """(features (B, 256, 14), thumbnails (B, 256, 3, 32, 32) uint8) -> Encoded (eq. 1).

    A frame CNN shared across frames reads each RGB thumbnail (colour and position matter:
    background hue = key, brightness = mode, the avatars along the bottom = instruments): a
    4x4-patch convolution (32 -> 8 px) and stride-2 3x3 convolutions; its last feature map is
    flattened, not pooled, so *where* something lights up survives. The
    result is concatenated with the feature row and fed to a non-causal dilated stack, so a
    token sees about 2.5 s around it (the ring's pulse, hence the tempo).
    """

    def __init__(self, cfg: CVSMConfig) -> None:
        super().__init__()
        first, *rest = cfg.cnn_channels
        convs: list[nn.Module] = [nn.Conv2d(3, first, 4, stride=4), nn.GELU()]  # 4x4 patches: 32 -> 8 px
        c_in = first
        for c in rest:
            convs += [nn.Conv2d(c_in, c, 3, stride=2, padding=1), nn.GELU()]  # 8 -> 4 -> ...
            c_in = c
        self.frame_cnn = nn.Sequential(*convs, nn.Flatten())
        side = THUMB // 4 // 2 ** len(rest)
        self.inp = nn.Linear(c_in * side * side + N_FEATURES, cfg.hidden)
        self.head = _TemporalHead(cfg)

    def forward(self, video: torch.Tensor, thumbs: torch.Tensor) -> Encoded:
        B, T, n_feat = video.shape
        assert n_feat == N_FEATURES and T == TIMING.latent_frames, f"{video.shape=}"
        assert thumbs.shape == (B, T, 3, THUMB, THUMB), f"{thumbs.shape=} {video.shape=}"
        x = thumbs.flatten(0, 1).float() / 127.5 - 1.0  # (B*T, 3, 32, 32) in [-1, 1]
        frames = self.frame_cnn(x).view(B, T, -1)  # (B, T, C*4*4)
        h = self.inp(torch.cat([frames, video.float()], dim=-1))  # (B, T, hidden), eq. 2a
        return self.head(h.transpose(1, 2))  # (B, hidden, T) in


class AudioEncoder(nn.Module):
    """Log-mel (B, 64, 1024) at 100 frames/s -> Encoded with tokens at 25 frames/s (eqs. 2b, 1).

    Mel bins are the input channels of a Conv1d over time; two stride-2 convolutions give the
    4x downsampling, so token k covers mel frames 4k-3 .. 4k+3 (before the temporal stack).
    """

    def __init__(self, cfg: CVSMConfig) -> None:
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv1d(N_MELS, cfg.hidden, 3, padding=1), nn.GELU(),
            nn.Conv1d(cfg.hidden, cfg.hidden, 4, stride=2, padding=1), nn.GELU(),
            nn.Conv1d(cfg.hidden, cfg.hidden, 4, stride=2, padding=1),
        )
        self.head = _TemporalHead(cfg)

    def forward(self, mel: torch.Tensor) -> Encoded:
        assert mel.ndim == 3 and mel.shape[1:] == (N_MELS, TIMING.mel_frames), f"{mel.shape=}"
        x = (mel.float() - MEL_MEAN) / MEL_STD  # (B, 64, 1024), eq. 2b
        return self.head(self.stem(x))  # stem: (B, hidden, 256)


def info_nce(a: torch.Tensor, b: torch.Tensor, *, scale: torch.Tensor) -> torch.Tensor:
    """Symmetric InfoNCE between row-paired unit vectors `a`, `b` (B, D) (eq. 4)."""
    assert a.shape == b.shape and a.ndim == 2, f"{a.shape=} {b.shape=}"
    logits = scale * a @ b.T  # (B, B): row i = a_i against every b_j
    target = torch.arange(len(a), device=a.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def local_nce(video_tokens: torch.Tensor, effect_tokens: torch.Tensor, events: torch.Tensor, *,
              scale: torch.Tensor, tolerance: int = 1) -> torch.Tensor:
    """Time-local InfoNCE within each clip, anchored on effect onsets (eq. 6).

    For each onset frame t (events[b, t] = 1), the video token at t must pick the effects
    token at t among all effects tokens of the same clip, and vice versa; frames with
    0 < |t - t'| <= tolerance are masked out (neither positive nor negative).
    video_tokens, effect_tokens: (B, T, D); events: (B, T). Mean over anchors (0 if none).
    """
    B, T, _ = video_tokens.shape
    assert effect_tokens.shape == video_tokens.shape and events.shape == (B, T), (
        f"{video_tokens.shape=} {effect_tokens.shape=} {events.shape=}")
    u = F.normalize(video_tokens.float(), dim=-1)  # (B, T, D)
    w = F.normalize(effect_tokens.float(), dim=-1)  # (B, T, D)
    logits = scale * u @ w.transpose(1, 2)  # (B, T, T): [b, t, t'] = video t . effects t'
    frames = torch.arange(T, device=logits.device)
    dist = (frames[:, None] - frames[None, :]).abs()  # (T, T)
    logits = logits.masked_fill((dist > 0) & (dist <= tolerance), float("-inf"))
    v2e = -logits.log_softmax(dim=2)[:, frames, frames]  # (B, T): over effects frames t'
    e2v = -logits.log_softmax(dim=1)[:, frames, frames]  # (B, T): over video frames t
    anchors = (events > 0.5).float()  # (B, T)
    n = anchors.sum()
    if n == 0:
        return 0.0 * logits.diagonal(dim1=1, dim2=2).sum()  # keeps every parameter in the graph (DDP)
    return 0.5 * ((v2e * anchors).sum() + (e2v * anchors).sum()) / n


class CVSM(nn.Module):
    """Video, music and effects encoders and two learnable temperatures (CLIP-style)."""

    def __init__(self, cfg: CVSMConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.video = VideoEncoder(cfg)
        self.music = AudioEncoder(cfg)
        self.effects = AudioEncoder(cfg)
        init = math.log(1.0 / cfg.temperature)
        self.logit_scale = nn.Parameter(torch.tensor(init))  # log(1/tau), eq. 3
        self.local_logit_scale = nn.Parameter(torch.tensor(init))  # log(1/tau_loc), eq. 3

    def scales(self) -> tuple[torch.Tensor, torch.Tensor]:
        """exp of the clamped log-scales, s and s_loc: 1/tau <= 100 (eq. 3)."""
        return (self.logit_scale.clamp(max=MAX_LOGIT_SCALE).exp(),
                self.local_logit_scale.clamp(max=MAX_LOGIT_SCALE).exp())

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Losses of eqs. 4-7 on a batch; `loss` is the total, the rest are for the log."""
        v = self.video(batch["video"], batch["thumbs"])
        m = self.music(batch["music_mel"])
        e = self.effects(batch["sfx_mel"])
        scale, local_scale = self.scales()
        out = {
            "clip_video_music": info_nce(v.embed, m.embed, scale=scale),  # eq. 5
            "clip_video_effects": info_nce(v.embed, e.embed, scale=scale),
            "clip_effects_music": info_nce(e.embed, m.embed, scale=scale),
            "local": local_nce(v.tokens, e.tokens, batch["events"], scale=local_scale,
                               tolerance=self.cfg.local_tolerance),  # eq. 6
        }
        clip = (out["clip_video_music"] + out["clip_video_effects"] + out["clip_effects_music"]) / 3
        out["loss"] = clip + self.cfg.local_weight * out["local"]  # eq. 7
        out["temperature"] = (1.0 / scale).detach()
        out["local_temperature"] = (1.0 / local_scale).detach()
        return out


def video_tokens(model: CVSM, video: torch.Tensor, thumbs: torch.Tensor) -> torch.Tensor:
    """Time-aligned video tokens (B, 256, token_dim) for the diffusion stage."""
    return model.video(video, thumbs).tokens


def load_cvsm(run_dir: Path) -> CVSM:
    """A trained CVSM from `RUN/config.json` + `RUN/model.safetensors`, in eval mode."""
    return load_run(CVSM, CVSMConfig, run_dir, stage="cvsm", name="CVSM")


__all__ = ["CONFIGS", "CVSM", "AudioEncoder", "CVSMConfig", "Encoded", "VideoEncoder", "info_nce",
           "load_cvsm", "local_nce", "video_tokens"]
