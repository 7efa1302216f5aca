"""One source of truth for fixed front-end settings: frozen dataclasses.

Lengths derived from durations are properties, never recomputed by hand elsewhere.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import TypeVar

# engine -> the checkpoint folder of its diffusion model (soundtrack.models.checkpoint.FOLDERS)
ENGINES = {"neural": "ldm", "score": "score"}
# The engine the CLI and the studio use unless told otherwise: `score` since it measured better than `neural`
# (docs/DECISIONS.md #45)
DEFAULT_ENGINE = "score"
# The effects stem unless told otherwise: "recorded" (real recordings play the generated effects,
# soundtrack/render/effects.py) or "neural" (the model's own audio)
DEFAULT_EFFECTS = "neural"

T = TypeVar("T")


@dataclass(frozen=True)
class AudioConfig:
    """The AudioLDM/MusicLDM front end: 16 kHz mono, 64-bin log-mel, 100 frames/s.

    Kept identical to that family so its pretrained VAEs and vocoders stay drop-in.
    """

    sample_rate: int = 16_000
    n_fft: int = 1024
    win_length: int = 1024
    hop_length: int = 160
    n_mels: int = 64
    fmin: float = 0.0
    fmax: float = 8_000.0
    log_floor: float = 1e-5  # log(clamp(mel, min=floor)), as AudioLDM's dynamic-range compression

    @property
    def frame_rate(self) -> float:
        """Mel frames per second (100 for hop 160 at 16 kHz)."""
        return self.sample_rate / self.hop_length

    def n_frames(self, seconds: float) -> int:
        """Mel frames covering `seconds` of audio (centre-padded STFT: samples // hop + 1)."""
        return self.n_samples(seconds) // self.hop_length + 1

    def n_samples(self, seconds: float) -> int:
        return int(round(seconds * self.sample_rate))


@dataclass(frozen=True)
class MixConfig:
    """The deliverable: 48 kHz stereo, loudness-normalised, with a true-peak ceiling."""

    sample_rate: int = 48_000
    target_lufs: float = -16.0
    true_peak_dbtp: float = -1.0
    pan_law_db: float = -3.0  # constant-power panning: centre is -3 dB per side


@dataclass(frozen=True)
class VideoConfig:
    """Video analysis: frames resampled to a fixed rate and downscaled while decoding.

    25 frames/s is the latent frame rate (100 mel frames/s over 4x time compression), so
    visual features line up one-to-one with latent frames.
    """

    analysis_fps: float = 25.0
    analysis_width: int = 96  # height follows the aspect ratio (even, at least 2)
    max_duration_s: float = 600.0


@dataclass(frozen=True)
class ClipConfig:
    """A training clip: 10.24 s = 1024 mel frames = 256 latent frames at 4x."""

    seconds: float = 10.24
    video_fps: int = 25
    video_size: int = 128  # procedural corpus videos are square

    @property
    def n_video_frames(self) -> int:
        return int(round(self.seconds * self.video_fps))


AUDIO = AudioConfig()
MIX = MixConfig()
VIDEO = VideoConfig()
CLIP = ClipConfig()


@dataclass(frozen=True)
class Timing:
    """Every frame, sample and window count of the models and of generation, derived in one place.

    A window is one training clip (10.24 s): 163,840 samples at 16 kHz, 1,024 mel frames
    (100/s; the STFT's extra last frame is dropped so the VAE's 4x time compression divides),
    256 latent frames (25/s, the video analysis rate). Consecutive windows of a long video
    overlap by 2.56 s (64 latent frames; docs/method/snio.md eq. 12).
    """

    audio: AudioConfig = AUDIO
    clip: ClipConfig = CLIP
    time_compression: int = 4  # the VAE's two stride-2 downsamplings in time
    freq_compression: int = 4  # and in mel bins
    overlap_s: float = 2.56

    @property
    def clip_samples(self) -> int:
        """163840: one window at 16 kHz."""
        return self.audio.n_samples(self.clip.seconds)

    @property
    def mel_fps(self) -> float:
        """100 mel frames per second."""
        return self.audio.frame_rate

    @property
    def mel_frames(self) -> int:
        """1024 mel frames per window."""
        return self.clip_samples // self.audio.hop_length

    @property
    def latent_fps(self) -> float:
        """25 latent frames per second (= the video analysis rate)."""
        return self.mel_fps / self.time_compression

    @property
    def latent_frames(self) -> int:
        """256 latent frames per window."""
        return self.mel_frames // self.time_compression

    @property
    def latent_bins(self) -> int:
        """16 latent mel bins per stem."""
        return self.audio.n_mels // self.freq_compression

    @property
    def samples_per_latent_frame(self) -> int:
        """640 samples at 16 kHz per latent frame."""
        return self.audio.hop_length * self.time_compression

    @property
    def window_frames(self) -> int:
        """Latent (= analysis) frames per generation window: 256."""
        return self.latent_frames

    @property
    def overlap_frames(self) -> int:
        """64 latent frames carried from one window into the next."""
        return int(round(self.overlap_s * self.latent_fps))

    @property
    def hop_frames(self) -> int:
        """192 latent frames from one window's start to the next's."""
        return self.window_frames - self.overlap_frames


TIMING = Timing()


# ------------------------------------------------------------------------------------- generation
@dataclass(frozen=True)
class SamplerConfig:
    """The guided sampler's knobs (docs/method/sdma.md eqs. 14, 14b; snio.md eqs. 12, 12b)."""

    scheduler: str = "dpm++"  # "dpm++" or "ddim"
    grid_guidance: float = 5.0  # w_g of eq. (14b): how hard the sampler leans on the beat grid
    grid_until: float = 0.5  # eq. (14b) acts on the first half of the steps, where a clip's pulse is decided
    hold_until: float = 0.5  # outpainting holds the overlap for the first half of the steps (eq. 12b)
    outpaint: bool = True  # False: every window on its own (an ablation: evaluate_windows)


@dataclass(frozen=True)
class ScoreWeights:
    """lambda_c of SNIO's objective J = sum_c lambda_c s_c (docs/method/snio.md eq. 8)."""

    tempo: float = 1.0
    instruments: float = 1.0
    balance: float = 0.1
    sync: float = 2.0
    cvsm: float = 2.0
    balance_no_events: float = 0.4  # lambda_b without visual events, where no sync term acts (eq. 8b)
    # the score engine's roll scores (docs/method/score.md eqs. S7-S9)
    presence: float = 1.0
    density: float = 0.5
    accents: float = 0.5

    def for_window(self, *, has_events: bool) -> dict[str, float]:
        """The weights by score name for a window with or without visual events."""
        return {"tempo": self.tempo, "instruments": self.instruments,
                "balance": self.balance if has_events else self.balance_no_events,
                "sync": self.sync, "cvsm": self.cvsm, "presence": self.presence, "density": self.density,
                "accents": self.accents}


@dataclass(frozen=True)
class SNIOConfig:
    """Score-guided noise optimisation (docs/method/snio.md Algorithm 1); `iters` is per request."""

    iters: int = 3  # N of eq. (10); 0 = plain sampling
    lr: float = 0.05  # Adam step on the noisy latent (eq. 10)
    at: float = 0.3  # where: the latent after round(at * steps) sampler steps (eq. 10b; 0 = x_T, as DITTO)
    surrogate_steps: int = 1  # K of eq. (9)
    checkpoint: bool = False  # recompute UNet activations in the backward pass (memory for time)
    shell: bool = True  # at x_T only: project onto the Gaussian shell ||x|| = sqrt(D) after each step (eq. 11)
    cond_grad: bool = True  # the gradient through the conditional branch only (eq. 9b); False: all branches

    def step(self, steps: int) -> int:
        """The sampler step k before which the latent is optimised, for a run of `steps` steps."""
        return min(steps - 1, max(0, int(round(self.at * steps))))


@dataclass(frozen=True)
class GenerationConfig:
    """Everything about how a take is generated that is not a musician's control: what a sweep varies."""

    sampler: SamplerConfig = SamplerConfig()
    snio: SNIOConfig = SNIOConfig()
    weights: ScoreWeights = ScoreWeights()


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings shared by every training stage (soundtrack/training/loop.py)."""

    steps: int = 1000
    batch_size: int = 8
    lr: float = 1e-3
    warmup: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    log_every: int = 10
    ckpt_every: int = 100
    init: str = ""  # a run folder whose weights start this run (fine-tuning); parameters it lacks keep their init
    new_lr_scale: float = 1.0  # with init: the learning rate of the parameters the init run lacks, times this


def config_from_dict(cls: type[T], d: dict) -> T:
    """Inverse of `dataclasses.asdict` for a frozen config dataclass (a run's config.json).

    JSON lists come back as tuples and nested dicts as their dataclasses; keys the class
    does not know are an error, so a config written by other code is not silently misread.
    """
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{cls.__name__} has no field(s) {sorted(unknown)}")
    kwargs = {}
    for name, value in d.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint) and isinstance(value, dict):
            value = config_from_dict(hint, value)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def named_config(table: dict[str, T], name: str, *, what: str) -> T:
    """`table[name]`, or an InputError that lists the known names."""
    from soundtrack.errors import InputError

    if name not in table:
        raise InputError(f"unknown {what} config {name!r}; known: {', '.join(table)}")
    return table[name]
