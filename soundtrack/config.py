"""One source of truth for fixed front-end settings: frozen dataclasses.

Lengths derived from durations are properties, never recomputed by hand elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass


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
