"""What a generation yields: :class:`Update` while it runs (kind: :class:`UpdateKind`), and the
finished :class:`Take`."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from torch import Tensor

from soundtrack.audio.mix import Mix
from soundtrack.music.beatgrid import BeatGrid
from soundtrack.music.score import Score
from soundtrack.pipeline.settings import Settings
from soundtrack.video.features import VisualEvent


class UpdateKind(str, enum.Enum):
    """What an :class:`Update` reports (a str, so it also reads and serialises as its value)."""

    SNIO = "snio"  # one SNIO iteration of a window: its scores and preview mels
    WINDOW = "window"  # a window sampled and decoded
    DONE = "done"  # the take is finished: `Update.take`


@dataclass(eq=False)
class Take:
    """A finished soundtrack for one video under one set of settings."""

    settings: Settings
    tempo_bpm: float  # the tempo requested of the model (auto resolved)
    music16: np.ndarray  # (T16,) mono stems at 16 kHz, the video's duration (score engine: its render)
    sfx16: np.ndarray  # the effects as delivered (recorded effects: their render, at 16 kHz)
    mix: Mix  # 48 kHz stereo music, sfx, mix (with the original sound kept: music + sfx + original)
    duration_s: float
    grid: BeatGrid  # where the beats were asked to fall (video time)
    events: list[VisualEvent]  # whole-video times
    snio_offsets: list[Tensor]  # per window, SNIO's move of the latent: the next take's warm start
    report: dict
    score: Score | None = None  # the score engine's notes (music.mid); None for the neural engine
    music48: np.ndarray | None = None  # (2, T48) the score's render at 48 kHz before mixing
    sfx48: np.ndarray | None = None  # (T48,) recorded effects (render/effects.py) before mixing; None: neural
    sfx_neural16: np.ndarray | None = None  # (T16,) the model's own effects, when recordings play them
    original48: np.ndarray | None = None  # (2, T) the video's own sound as decoded (original "keep"), 48 kHz


@dataclass
class Update:
    """One step of a streamed generation (see :meth:`SoundtrackPipeline.stream`)."""

    kind: UpdateKind
    window: int
    n_windows: int
    progress: float  # 0..1 of the whole generation
    scores: dict[str, float] = field(default_factory=dict)
    iteration: int = 0
    music_mel: Tensor | None = None  # (64, F) preview log-mel of the current window
    sfx_mel: Tensor | None = None
    grid: BeatGrid | None = None  # the beat grid the music is conditioned on (video time)
    take: Take | None = None
    roll: np.ndarray | None = None  # (8, 256, 16) the score engine's notes of a sampled window (WINDOW)


__all__ = ["Take", "Update", "UpdateKind"]
