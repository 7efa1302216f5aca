"""The soundtrack latent-diffusion model: music and effects stems denoised together in one UNet.

Latent layout (docs/method/sdma.md, eq. 1): each stem's VAE latent is (B, 8, Tl, 16) (time
as height, 16 latent mel bins as width; Tl = 256 for a 10.24 s clip at 25 latent frames/s).
The UNet sees them side by side along frequency:

    x = concat(z_music, z_effects, dim=-1)          # (B, 8, Tl, 32): columns 0-15 music, 16-31 effects

Conditions (eq. 2), encoded once per generation by :meth:`SoundtrackLDM.encode_conditions`:
- time-aligned video channels: CVSM video tokens (B, Tl, d) -> Linear -> (B, c_in, Tl),
  broadcast over the 32 columns and concatenated to x along channels (MMAudio's trick);
  with `beat_grid`, the beat grid's periodic features (soundtrack/music/beatgrid.py) ->
  Linear are added to those channels, so beats and bars are where the tempo puts them;
- cross-attention tokens, each typed MUSIC or EFFECT (SDMA routes on the type):
  EFFECT: the video tokens pooled 4x in time + a time embedding of their clip position;
  MUSIC: the musician's controls (:class:`ControlEncoder`) and one global video token;
- learned NULL tokens/channels for classifier-free guidance (eq. 13).

The training stage (soundtrack/training/ldm.py; commands in docs/TRAINING.md) encodes
the corpus once with the frozen VAE and CVSM and trains epsilon (or v) prediction with the
DDPM schedule of AudioLDM (:func:`noise_scheduler`).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from soundtrack.config import TIMING, TrainConfig
from soundtrack.errors import InputError
from soundtrack.models.checkpoint import load_run
from soundtrack.models.sdma import EFFECT, MUSIC, SDMAController, SDMAParams, set_plain, set_sdma
from soundtrack.music.families import N_FAMILIES
from soundtrack.music.score import roll_mel_template
from soundtrack.music.theory import BEATS_PER_BAR

N_BINS = TIMING.latent_bins  # latent mel bins per stem (16)
LATENT_CHANNELS = 8
N_BEAT_FEATURES = 6
EFFECT_POOL = 4  # video tokens per effect token


@dataclass(frozen=True)
class LDMConfig:
    block_channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = 1
    attention_levels: tuple[bool, ...] = (False, True, True)  # cross/self-attention per UNet level
    head_dim: int = 16  # attention heads per level = channels // head_dim
    norm_groups: int = 8
    cross_attention_dim: int = 64  # width D of the condition tokens
    c_in: int = 8  # time-aligned video channels concatenated to x
    video_dim: int = 64  # CVSM token width d (checked against the CVSM run)
    sdma: bool = True
    # "latent": the music stem is the VAE latent of its mel (the `neural` engine); "roll": a lane
    # piano roll of notes (the `score` engine, soundtrack/music/score.py, docs/method/score.md)
    music_stem: str = "latent"
    beat_grid: bool = False  # time-aligned beat-grid channels (eq. 2d); False in runs made before them
    sdma_params: SDMAParams = field(default_factory=SDMAParams)
    prediction_type: str = "epsilon"  # or "v_prediction"
    crop_latent_frames: int = 64  # training crop (2.56 s); a multiple of 4
    # loss weight min(1/alpha_bar_t, this) on the epsilon-MSE (1 = plain). Epsilon-MSE weighs the
    # clean signal's error by SNR(t), so at high noise, where tempo and form are decided, it
    # hardly teaches anything; 1/alpha_bar = 1 + 1/SNR is the v-prediction weighting, clipped.
    high_noise_weight: float = 1.0
    p_drop_music: float = 0.10  # CFG dropout: music tokens only
    p_drop_video: float = 0.10  # video channels and effect tokens only
    p_drop_both: float = 0.05
    vae_run: str = "runs/vae-small"
    cvsm_run: str = "runs/cvsm-small"
    train: TrainConfig = field(default_factory=TrainConfig)

    def __post_init__(self) -> None:
        n = len(self.block_channels)
        assert len(self.attention_levels) == n, f"{self.attention_levels=} vs {self.block_channels=}"
        assert self.crop_latent_frames % EFFECT_POOL == 0, (
            f"{self.crop_latent_frames=} is not a multiple of {EFFECT_POOL}")
        assert self.prediction_type in ("epsilon", "v_prediction"), f"{self.prediction_type=}"
        assert self.music_stem in ("latent", "roll"), f"{self.music_stem=}"

    @property
    def n_music_tokens(self) -> int:
        return N_FAMILIES + 4 + 1  # families, tempo, key, mode, intensity; global video

    def n_effect_tokens(self, frames: int) -> int:
        return frames // EFFECT_POOL


CONFIGS: dict[str, LDMConfig] = {
    "tiny": LDMConfig(
        block_channels=(16, 32), attention_levels=(True, True), head_dim=8, norm_groups=4,
        cross_attention_dim=16, c_in=4, video_dim=32, crop_latent_frames=16, beat_grid=True,
        vae_run="runs/vae-tiny", cvsm_run="runs/cvsm-tiny",
        train=TrainConfig(steps=20, batch_size=2, lr=1e-3, warmup=2, log_every=1, ckpt_every=10),
    ),
    # Bundled CPU model, 2.4M parameters. On 2 cores: ~0.49 s per train step (batch 16 x 64
    # frames) and ~0.13 s per guided UNet call on a full 256-frame latent (docs/method/sdma.md, "Cost").
    "small": LDMConfig(
        block_channels=(24, 48, 96), attention_levels=(False, True, True), head_dim=16, norm_groups=8,
        cross_attention_dim=64, c_in=8, video_dim=128, crop_latent_frames=64, beat_grid=True,
        high_noise_weight=20.0,
        train=TrainConfig(steps=6000, batch_size=16, lr=5e-4, warmup=200, log_every=25, ckpt_every=250),
    ),
    "gpu": LDMConfig(
        block_channels=(128, 256, 512, 512), layers_per_block=2, attention_levels=(False, True, True, True),
        head_dim=32, norm_groups=32, cross_attention_dim=256, c_in=16, video_dim=256, crop_latent_frames=256,
        beat_grid=True, high_noise_weight=20.0,
        vae_run="runs/vae-gpu", cvsm_run="runs/cvsm-gpu",
        train=TrainConfig(steps=100_000, batch_size=32, lr=1e-4, warmup=1000, log_every=100, ckpt_every=2000),
    ),
}
CONFIGS["small-nosdma"] = dataclasses.replace(CONFIGS["small"], sdma=False)  # the ablation
# The score engine's joint model: the same network with the music stem as a note roll, 5.12 s
# crops (two bars at 94 BPM, so motifs and their repeats are inside one crop), fine-tuned from
# the bundled `small` model (its effects stem and condition encoders carry over; docs/TRAINING.md).
CONFIGS["score-small"] = dataclasses.replace(
    CONFIGS["small"], music_stem="roll", crop_latent_frames=128,
    vae_run="checkpoints/vae", cvsm_run="checkpoints/cvsm",
    train=TrainConfig(steps=3000, batch_size=10, lr=4e-4, warmup=100, log_every=25, ckpt_every=250))
CONFIGS["score-small-nosdma"] = dataclasses.replace(CONFIGS["score-small"], sdma=False)
CONFIGS["score-tiny"] = dataclasses.replace(CONFIGS["tiny"], music_stem="roll")
# The bundled model's first phase (5,000 steps), before the beat grid and the loss weighting;
# `small` then fine-tunes it (`--init`, docs/TRAINING.md).
CONFIGS["small-base"] = dataclasses.replace(CONFIGS["small"], beat_grid=False, high_noise_weight=1.0)
CONFIGS["small-nosdma-base"] = dataclasses.replace(CONFIGS["small-base"], sdma=False)


# ----------------------------------------------------------------------------------------- layout
def join_stems(z_music: Tensor, z_effects: Tensor) -> Tensor:
    """(B, C, Tl, 16) x 2 -> x (B, C, Tl, 32): music in columns 0-15, effects in 16-31 (eq. 1)."""
    assert z_music.shape == z_effects.shape and z_music.shape[-1] == N_BINS, (
        f"{z_music.shape=} {z_effects.shape=}")
    return torch.cat([z_music, z_effects], dim=-1)


def split_stems(x: Tensor) -> tuple[Tensor, Tensor]:
    """x (B, C, Tl, 32) -> (z_music, z_effects), each (B, C, Tl, 16)."""
    assert x.shape[-1] == 2 * N_BINS, f"{x.shape=}"
    return x[..., :N_BINS], x[..., N_BINS:]


def noise_scheduler(prediction_type: str = "epsilon"):
    """The training noise schedule: 1000 DDPM steps, scaled-linear betas as AudioLDM."""
    from diffusers import DDPMScheduler

    return DDPMScheduler(num_train_timesteps=1000, beta_start=0.0015, beta_end=0.0195,
                         beta_schedule="scaled_linear", prediction_type=prediction_type, clip_sample=False)


def beat_features(pos: Tensor) -> Tensor:
    """(...,) beat positions -> (..., 6): sin/cos at the beat, the half bar and the bar (sdma.md eq. 2d)."""
    angles = [2 * math.pi * pos.float() / n for n in (1.0, 2.0, float(BEATS_PER_BAR))]
    return torch.stack([f(a) for a in angles for f in (torch.sin, torch.cos)], -1)


def sinusoid(x: Tensor, *, n: int, min_period: float, max_period: float) -> Tensor:
    """(...,) -> (..., n) sin/cos features with geometrically spaced periods."""
    periods = torch.logspace(math.log10(min_period), math.log10(max_period), n // 2, device=x.device)
    angle = 2 * math.pi * x[..., None].float() / periods
    return torch.cat([angle.sin(), angle.cos()], -1)


# ------------------------------------------------------------------------------------- conditions
@dataclass
class Conditions:
    """Everything the UNet needs besides (x_t, t); computed once per generation (eq. 2)."""

    aligned: Tensor  # (B, c_in, Tl) time-aligned video channels
    tokens: Tensor  # (B, N, D) cross-attention tokens: music tokens then effect tokens
    token_types: Tensor  # (N,) long, MUSIC or EFFECT

    @property
    def batch_size(self) -> int:
        return self.tokens.shape[0]

    @property
    def frames(self) -> int:
        return self.aligned.shape[-1]

    @staticmethod
    def cat(items: list[Conditions]) -> Conditions:
        """Stack along the batch (e.g. conditional and null for CFG in one UNet call)."""
        types = items[0].token_types
        assert all(torch.equal(c.token_types, types) for c in items), "token layouts differ"
        return Conditions(aligned=torch.cat([c.aligned for c in items]),
                          tokens=torch.cat([c.tokens for c in items]), token_types=types)


class ControlEncoder(nn.Module):
    """The musician's controls -> MUSIC tokens (B, 14, D).

    instruments (B, 10) weights in FAMILY_NAMES order: family i's token is w_i * E_i;
    tempo (B,) BPM: sinusoidal features of log2(BPM / 120); key (B,) 0-11; mode (B,) 0/1;
    intensity (B,) about 0.6-1.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.families = nn.Parameter(torch.randn(N_FAMILIES, dim) * 0.5)
        self.tempo = nn.Sequential(nn.Linear(32, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.key = nn.Embedding(12, dim)
        self.mode = nn.Embedding(2, dim)
        self.intensity = nn.Sequential(nn.Linear(16, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, *, instruments: Tensor, tempo: Tensor, key: Tensor, mode: Tensor,
                intensity: Tensor) -> Tensor:
        B = instruments.shape[0]
        assert instruments.shape == (B, N_FAMILIES), f"{instruments.shape=}"
        fam = instruments[..., None].float() * self.families  # (B, 10, D)
        log_bpm = torch.log2(tempo.float().clamp_min(1.0) / 120.0)  # (B,)
        tempo_tok = self.tempo(sinusoid(log_bpm, n=32, min_period=1 / 16, max_period=8.0))  # (B, D)
        inten = self.intensity(sinusoid(intensity.float(), n=16, min_period=0.1, max_period=4.0))
        other = torch.stack([tempo_tok, self.key(key.long()), self.mode(mode.long()), inten], 1)  # (B, 4, D)
        return torch.cat([fam, other], 1)  # (B, 14, D)


# ------------------------------------------------------------------------------------------ model
class SoundtrackLDM(nn.Module):
    """UNet2DConditionModel + condition encoders + the SDMA controller."""

    def __init__(self, cfg: LDMConfig) -> None:
        from diffusers import UNet2DConditionModel

        super().__init__()
        self.cfg = cfg
        D, d = cfg.cross_attention_dim, cfg.video_dim
        down = tuple("CrossAttnDownBlock2D" if a else "DownBlock2D" for a in cfg.attention_levels)
        up = tuple("CrossAttnUpBlock2D" if a else "UpBlock2D" for a in reversed(cfg.attention_levels))
        self.unet = UNet2DConditionModel(
            in_channels=LATENT_CHANNELS + cfg.c_in, out_channels=LATENT_CHANNELS,
            down_block_types=down, up_block_types=up, block_out_channels=tuple(cfg.block_channels),
            layers_per_block=cfg.layers_per_block, cross_attention_dim=D, norm_num_groups=cfg.norm_groups,
            # diffusers' `attention_head_dim` of this UNet is the number of heads (its naming issue 2011)
            attention_head_dim=tuple(max(1, c // cfg.head_dim) for c in cfg.block_channels),
        )
        self.controls = ControlEncoder(D)
        self.aligned = nn.Linear(d, cfg.c_in)  # eq. (2a)
        if cfg.beat_grid:  # eq. (2d); zero-initialised, so a model fine-tuned from one without starts equal
            self.beat = nn.Linear(N_BEAT_FEATURES, cfg.c_in)
            nn.init.zeros_(self.beat.weight)
            nn.init.zeros_(self.beat.bias)
        self.effect_proj = nn.Linear(d, D)  # eq. (2b)
        self.effect_time = nn.Sequential(nn.Linear(32, D), nn.SiLU(), nn.Linear(D, D))
        self.global_video = nn.Linear(d, D)
        self.null_music = nn.Parameter(torch.randn(cfg.n_music_tokens, D) * 0.02)  # eq. (13)
        self.null_effect = nn.Parameter(torch.randn(D) * 0.02)
        self.null_aligned = nn.Parameter(torch.zeros(cfg.c_in))
        self.register_buffer("alphas_cumprod", noise_scheduler().alphas_cumprod.float(), persistent=False)
        # latent statistics of the frozen VAE on the corpus, set while training (exported with the weights)
        self.register_buffer("latent_scale", torch.ones(()))  # 1/std of the unscaled latents
        self.register_buffer("silence", torch.zeros(LATENT_CHANNELS, N_BINS))  # scaled latent of silence
        if cfg.music_stem == "roll":  # score.md eq. (S5): the roll's energy in the mel bands, scaled
            # to the music latent's energy over the corpus by `roll_gain` (set while training)
            self.register_buffer("music_template", torch.from_numpy(roll_mel_template()), persistent=False)
            self.register_buffer("roll_gain", torch.ones(()))
        self.controller = SDMAController(cfg.sdma_params)
        if cfg.sdma:
            set_sdma(self.unet, self.controller)
        else:
            set_plain(self.unet)

    def noise_scheduler(self):
        return noise_scheduler(self.cfg.prediction_type)

    # 1. conditions, once per generation -----------------------------------------------------
    def token_types(self, frames: int) -> Tensor:
        n_m, n_e = self.cfg.n_music_tokens, self.cfg.n_effect_tokens(frames)
        return torch.tensor([MUSIC] * n_m + [EFFECT] * n_e, device=self.null_effect.device)

    def encode_conditions(self, *, video_tokens: Tensor, instruments: Tensor, tempo: Tensor, key: Tensor,
                          mode: Tensor, intensity: Tensor, drop_music: Tensor | None = None,
                          drop_video: Tensor | None = None, frame0: Tensor | None = None,
                          beat_pos: Tensor | None = None) -> Conditions:
        """CVSM video tokens (B, Tl, d) and the controls -> :class:`Conditions` (eq. 2).

        drop_music / drop_video: (B,) bool, rows replaced by the NULL tokens (eq. 13);
        frame0: (B,) latent frame of the clip where `video_tokens` start (training crops), default 0;
        beat_pos: (B, Tl) beat position of every latent frame (soundtrack/music/beatgrid.py), used
        when the config has `beat_grid` and dropped with the music tokens; None: no grid.
        """
        B, Tl, d = video_tokens.shape
        assert d == self.cfg.video_dim, f"{video_tokens.shape=}, config expects d={self.cfg.video_dim}"
        if Tl % EFFECT_POOL:
            raise InputError(f"latent length {Tl} must be a multiple of {EFFECT_POOL}")
        video = video_tokens.float()
        dev = video.device
        zero = torch.zeros(B, dtype=torch.bool, device=dev)
        drop_music = zero if drop_music is None else drop_music.to(dev).bool()
        drop_video = zero if drop_video is None else drop_video.to(dev).bool()
        frame0 = torch.zeros(B, device=dev) if frame0 is None else frame0.to(dev).float()
        # eq. (2a): time-aligned channels
        aligned = self.aligned(video).transpose(1, 2)  # (B, c_in, Tl)
        null_aligned = self.null_aligned[None, :, None].expand_as(aligned)
        aligned = torch.where(drop_video[:, None, None], null_aligned, aligned)
        if self.cfg.beat_grid and beat_pos is not None:  # eq. (2d)
            assert beat_pos.shape == (B, Tl), f"{beat_pos.shape=}, expected {(B, Tl)}"
            beat = self.beat(beat_features(beat_pos.to(dev))).transpose(1, 2)  # (B, c_in, Tl)
            aligned = aligned + torch.where(drop_music[:, None, None], torch.zeros_like(beat), beat)
        # eq. (2b): EFFECT tokens, 4x pooled video + time embedding of the clip position
        pooled = F.avg_pool1d(video.transpose(1, 2), EFFECT_POOL).transpose(1, 2)  # (B, Tl/4, d)
        offsets = EFFECT_POOL * torch.arange(pooled.shape[1], device=dev) + (EFFECT_POOL - 1) / 2
        centre = frame0[:, None] + offsets  # (B, Tl/4) latent frame of each token's centre
        time_emb = self.effect_time(sinusoid(centre, n=32, min_period=4.0, max_period=2048.0))
        effect = self.effect_proj(pooled) + time_emb  # (B, Tl/4, D)
        effect = torch.where(drop_video[:, None, None], self.null_effect.expand_as(effect), effect)
        # eq. (2c): MUSIC tokens, the controls and one global video token (dropped with either)
        ctl = self.controls(instruments=instruments, tempo=tempo, key=key, mode=mode, intensity=intensity)
        music = torch.cat([ctl, self.global_video(video.mean(1))[:, None]], 1)  # (B, 15, D)
        null_music = self.null_music.expand_as(music)
        music = torch.where(drop_music[:, None, None], null_music, music)
        glob = torch.where(drop_video[:, None, None], null_music[:, -1:], music[:, -1:])
        music = torch.cat([music[:, :-1], glob], 1)
        tokens = torch.cat([music, effect], 1)  # (B, N, D)
        return Conditions(aligned=aligned, tokens=tokens, token_types=self.token_types(Tl))

    def null_conditions(self, *, batch: int, frames: int) -> Conditions:
        """The fully dropped condition (eq. 13): NULL channels and tokens, (batch, frames)."""
        D, dev = self.cfg.cross_attention_dim, self.null_effect.device
        aligned = self.null_aligned[None, :, None].expand(batch, -1, frames)
        tokens = torch.cat([self.null_music.expand(batch, -1, D),
                            self.null_effect.expand(batch, self.cfg.n_effect_tokens(frames), D)], 1)
        return Conditions(aligned=aligned.to(dev), tokens=tokens, token_types=self.token_types(frames))

    # 2. prediction, every step ------------------------------------------------------------------
    def forward(self, x_t: Tensor, t: Tensor, cond: Conditions | dict[str, Tensor], *,
                latent_stats: dict[str, Tensor] | None = None) -> Tensor:
        """x_t (B, 8, Tl, 32), t (B,) or () DDPM timesteps -> epsilon or v (B, 8, Tl, 32).

        cond: encoded :class:`Conditions`, or the keyword arguments of `encode_conditions`
        (training encodes inside forward so DDP sees every parameter used);
        latent_stats: {"scale": (), "silence": (8, 16)[, "roll_gain": ()]} from the training data,
        stored in buffers.
        """
        if latent_stats is not None:
            with torch.no_grad():
                self.latent_scale.copy_(latent_stats["scale"])
                self.silence.copy_(latent_stats["silence"])
                if self.cfg.music_stem == "roll":
                    self.roll_gain.copy_(latent_stats["roll_gain"])
        if isinstance(cond, dict):
            cond = self.encode_conditions(**cond)
        B, C, Tl, W = x_t.shape
        assert C == LATENT_CHANNELS and W == 2 * N_BINS, f"{x_t.shape=}: expected (B, 8, Tl, 32)"
        assert cond.batch_size == B and cond.frames == Tl, (
            f"{x_t.shape=} vs {cond.aligned.shape=} {cond.tokens.shape=}")
        t = torch.as_tensor(t, device=x_t.device).reshape(-1).expand(B)
        if self.cfg.sdma:
            acp = self.alphas_cumprod[t.long()].to(x_t)  # (B,)
            if self.cfg.music_stem == "roll":  # silence: no note anywhere (-1), score.md eq. (S1)
                ref = torch.cat([-torch.ones_like(self.silence), self.silence], -1)  # (8, 32)
                template = self.music_template * self.roll_gain
            else:
                ref, template = self.silence.repeat(1, 2), None  # (8, 32): silence in both stem bands
            # eqs. (4)-(7), with alpha_t, sigma_t of eq. (3)
            self.controller.update(x_t, acp.sqrt(), (1 - acp).sqrt(), cond.token_types, reference=ref,
                                   music_template=template)
        aligned = cond.aligned[..., None].expand(B, -1, Tl, W)  # (B, c_in, Tl, 32)
        try:
            x_in = torch.cat([x_t, aligned.to(x_t)], 1)  # (B, 8 + c_in, Tl, 32)
            return self.unet(x_in, t, encoder_hidden_states=cond.tokens).sample
        finally:
            self.controller.clear()


def is_score_model(model: nn.Module) -> bool:
    """Whether a diffusion model writes notes (the `score` engine) rather than a music latent."""
    return getattr(getattr(model, "cfg", None), "music_stem", "latent") == "roll"


# -------------------------------------------------------------------------------------------- load
def load_ldm(run_dir: Path, *, device: torch.device | str = "cpu") -> SoundtrackLDM:
    """The trained LDM of a run: `RUN/config.json` + `RUN/model.safetensors`, in eval mode."""
    return load_run(SoundtrackLDM, LDMConfig, run_dir, stage="ldm", device=device)
