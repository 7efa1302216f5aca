"""The neural vocoder: log-mel `(B, 64, F)` -> waveform `(B, (F - 1) * 160)`, Vocos-style.

Vocos (Siuzdak 2023) predicts an STFT frame per mel frame and lets the inverse STFT do the
upsampling, so every layer runs at the mel frame rate (100 frames/s), not the sample rate:

    x = Conv1d(64 -> dim, k=7)(mel); x = LayerNorm(x)                    # (B, dim, F)
    x = ConvNeXt-1D block x n_layers:                                   # Vocos sec. 3.1
          y = dwconv_k7(x); y = LayerNorm(y); y = W2 GELU(W1 y); x = x + gamma * y
    x = LayerNorm(x); [m, p] = Linear(dim -> n_fft + 2)(x)               # (B, n_fft/2+1, F) each
    X = exp(m) * (cos p + i sin p)                                      # Vocos eq. (2)-(3)
    wave = iSTFT(X; n_fft, hop 160, Hann win n_fft), centred, length (F - 1) * 160

With the mel's hop and a centred iSTFT, `MelSpectrogram(vocoder(mel))` has F frames that
line up with `mel`. Trained without a discriminator (docs/method/codec.md, "why no GAN"; the
`vocoder` stage, soundtrack/training/vocoder.py):

    L = w_stft * (SC + MAG)_{MR-STFT}  +  w_mel * | logmel(wave^) - logmel(wave) |_1
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from soundtrack.config import AUDIO, TrainConfig
from soundtrack.models.checkpoint import load_run


@dataclass(frozen=True)
class VocoderConfig:
    dim: int = 256
    intermediate_dim: int = 768
    n_layers: int = 8
    # STFT of the head: hop = the mel hop (160), Hann window of n_fft. 1024 (the mel's own
    # STFT) beat 640 and 480 in an overfitting probe (docs/method/codec.md).
    n_fft: int = 1024
    segment_s: float = 1.0  # training crop; a multiple of 10 ms so that (F - 1) * 160 = samples
    stft_weight: float = 1.0  # on SC + log-magnitude L1 of the MR-STFT loss
    # On the 64-bin log-mel L1. HiFi-GAN's 45 balances GAN terms we do not have; without
    # them it starves the MR-STFT term (phase coherence): docs/method/codec.md.
    mel_weight: float = 10.0
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        samples = self.segment_s * AUDIO.sample_rate
        assert abs(samples / AUDIO.hop_length - round(samples / AUDIO.hop_length)) < 1e-6, (
            f"{self.segment_s=} is not a whole number of mel hops")
        assert self.n_fft >= 2 * AUDIO.hop_length, f"{self.n_fft=}: need at least 2x overlap for the iSTFT"

    @property
    def segment_samples(self) -> int:
        return AUDIO.n_samples(self.segment_s)


CONFIGS: dict[str, VocoderConfig] = {
    "tiny": VocoderConfig(
        dim=32, intermediate_dim=64, n_layers=2, n_fft=1024, segment_s=0.5,
        train=TrainConfig(steps=20, batch_size=2, lr=2e-3, warmup=2, log_every=1, ckpt_every=10),
    ),
    # Bundled CPU model, 3.6 M parameters: 10 s of audio in 0.08 s on one thread (~120x real
    # time), 0.26 s per training step (docs/method/codec.md).
    "small": VocoderConfig(
        dim=256, intermediate_dim=768, n_layers=8, n_fft=1024, segment_s=1.0,
        train=TrainConfig(steps=4000, batch_size=8, lr=1e-3, warmup=50, log_every=25, ckpt_every=250),
    ),
    "gpu": VocoderConfig(
        dim=512, intermediate_dim=1536, n_layers=8, n_fft=1024, segment_s=1.0,
        train=TrainConfig(steps=100_000, batch_size=32, lr=5e-4, warmup=1000, log_every=100, ckpt_every=5000),
    ),
}


class ConvNeXtBlock(nn.Module):
    """Depthwise conv k=7, LayerNorm, pointwise MLP (GELU), layer scale; residual. `(B, C, F)`."""

    def __init__(self, *, dim: int, intermediate_dim: int, layer_scale: float) -> None:
        super().__init__()
        self.dwconv = nn.Conv1d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, intermediate_dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(intermediate_dim, dim)
        self.gamma = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).transpose(1, 2)  # (B, F, C)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y))))  # (B, F, C)
        return x + (self.gamma * y).transpose(1, 2)  # (B, C, F)


class Vocoder(nn.Module):
    """Log-mel `(B, 64, F)` -> wave `(B, (F - 1) * 160)`."""

    window: torch.Tensor

    def __init__(self, cfg: VocoderConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.embed = nn.Conv1d(AUDIO.n_mels, cfg.dim, kernel_size=7, padding=3)
        self.norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.blocks = nn.ModuleList(
            ConvNeXtBlock(dim=cfg.dim, intermediate_dim=cfg.intermediate_dim, layer_scale=1.0 / cfg.n_layers)
            for _ in range(cfg.n_layers)
        )
        self.final_norm = nn.LayerNorm(cfg.dim, eps=1e-6)
        self.head = nn.Linear(cfg.dim, cfg.n_fft + 2)  # log-magnitude and phase, n_fft/2+1 each
        self.register_buffer("window", torch.hann_window(cfg.n_fft, periodic=True), persistent=False)

    def spectrum(self, mel: torch.Tensor) -> torch.Tensor:
        """The predicted complex STFT `(B, n_fft/2+1, F)`."""
        assert mel.ndim == 3 and mel.shape[1] == AUDIO.n_mels, f"expected (B, 64, F), got {mel.shape=}"
        x = self.embed(mel)  # (B, dim, F)
        x = self.norm(x.transpose(1, 2)).transpose(1, 2)
        for block in self.blocks:
            x = block(x)  # (B, dim, F)
        x = self.head(self.final_norm(x.transpose(1, 2))).transpose(1, 2)  # (B, n_fft + 2, F)
        log_mag, phase = x.chunk(2, dim=1)  # (B, n_fft/2+1, F) each
        mag = torch.exp(log_mag.clamp(max=1e2))  # Vocos eq. (2): clipped against overflow
        return torch.polar(mag, phase)  # mag * (cos p + i sin p), Vocos eq. (3)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        spec = self.spectrum(mel)  # (B, n_fft/2+1, F)
        frames = mel.shape[2]
        wave = torch.istft(spec, n_fft=self.cfg.n_fft, hop_length=AUDIO.hop_length, win_length=self.cfg.n_fft,
                           window=self.window, center=True, length=(frames - 1) * AUDIO.hop_length)
        return wave  # (B, (F - 1) * 160)


def load_vocoder(run_dir: Path, *, device: torch.device | str = "cpu") -> Vocoder:
    """The trained vocoder of a run: `RUN/config.json` + `RUN/model.safetensors`, in eval mode."""
    return load_run(Vocoder, VocoderConfig, run_dir, stage="vocoder", device=device)
