"""One source of truth for fixed front-end settings: frozen dataclasses.

Lengths derived from durations are properties, never recomputed by hand elsewhere.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass
from typing import TypeVar

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
class TrainConfig:
    """Optimisation settings shared by every training stage (soundtrack/train.py)."""

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
