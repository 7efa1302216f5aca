"""A browser session of the studio: its takes on disk, its one wanted job, its run in flight.

    session = Session(state.takes_dir)                          # one per page, made when it loads
    session.request(Job(video, Settings(seed=3), warm=True))    # the newest wanted take (latest wins)
    session.last_take.files["soundtrack.mp4"]                   # a TakeRecord

What a run shows the page is a :class:`Frame`. The loop that runs jobs is live.py; takes made
from the last take without generating (a re-mix, a re-orchestration) are retake.py. Nothing
here imports Gradio or torch.
"""
from __future__ import annotations

import shutil
import threading
import uuid
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from soundtrack.config import DEFAULT_ENGINE
from soundtrack.pipeline.settings import Settings

if TYPE_CHECKING:
    from soundtrack.pipeline import Take
    from soundtrack.studio.summary import Measures

KEEP_TAKES = 3  # per session; older take folders are deleted


@dataclass(eq=False)
class TakeRecord:
    """A finished take of a session, as files on disk plus what a warm start needs."""

    number: int
    video: Path
    settings: Settings
    snio_offsets: list  # per window (1, 8, 256, 32) tensors: SNIO's move of the latent it optimised
    files: dict[str, Path]  # music.wav sfx.wav mix.wav soundtrack.mp4 spectrogram.png report.json
    # settings.json
    report: dict  # report.json as written (models named, not given as paths)
    warm_from: int | None  # the take whose SNIO offsets this one went on from (None: from the seed)
    take: Take | None = None  # the pipeline's Take without its mix, for a re-mix; the last take only
    remixed_from: int | None = None  # the take whose stems this one mixed at another balance
    scores: list = field(default_factory=list)  # the SNIO iterations' score rows (Frame.scores) that made it
    measures: Measures | None = None  # tempo, hits, families heard, measured on its stems (summary.py)
    stem_lufs: tuple[float, float] | None = None  # music, effects loudness at 16 kHz (balance_preview)
    reorchestrated_from: int | None = None  # the take whose notes this one played on other families

    @property
    def dir(self) -> Path:
        return self.files["report.json"].parent

    @property
    def engine(self) -> str:
        """The engine that made it: "neural" or "score" (report.json "engine")."""
        return self.report.get("engine", "neural")


@dataclass(frozen=True)
class Job:
    """A take the page asked for: this video with these settings, warm or from the seed, by an engine
    ("neural" or "score", config.ENGINES)."""

    video: Path
    settings: Settings
    warm: bool
    engine: str = DEFAULT_ENGINE
    playhead_s: float = 0.0  # where the musician is listening: a change's sketch starts there (retake.py)


STOPPED = "Stopped before the take was finished."


class Session:
    """One browser session: its takes, its run in flight and its voter id.

    Shared between the session's handlers by reference (Gradio keeps it in gr.State); a
    copy is the same session, so :meth:`__deepcopy__` returns it.
    """

    def __init__(self, root: Path) -> None:
        """root: where the studio writes takes (StudioState.takes_dir); the session's are in root/<id>."""
        self.id = uuid.uuid4().hex
        self.dir = Path(root) / self.id
        self.takes: deque[TakeRecord] = deque()
        self.pair_id: int | None = None  # the A/B pair on screen
        self._lock = threading.Lock()
        self._ticket = 0
        self._wanted: Job | None = None  # the newest request's job, until a run claims it
        self._why = STOPPED  # what a stopped run says
        self._cancel = threading.Event()
        self._active = False
        self._count = 0

    def __deepcopy__(self, memo: dict) -> Session:
        return self

    @property
    def last_take(self) -> TakeRecord | None:
        return self.takes[-1] if self.takes else None

    @property
    def running(self) -> bool:
        return self._active

    @property
    def started(self) -> bool:
        """Whether a run is in flight or asked for, or a take exists (moving a control then re-runs)."""
        return self._active or self._wanted is not None or bool(self.takes)

    def request(self, job: Job | None = None) -> int:
        """A ticket for a new run, for `job` (the session's wanted job from now on, replacing an
        older one); the run in flight is told to stop."""
        with self._lock:
            self._ticket += 1
            self._wanted, self._why = job, STOPPED
            self._cancel.set()
            return self._ticket

    def stop(self, why: str = STOPPED) -> None:
        """Stop the run in flight and forget any wanted job; the stopped run says `why`."""
        with self._lock:
            self._ticket += 1
            self._wanted, self._why = None, why
            self._cancel.set()

    def pending(self) -> tuple[int, Job] | None:
        """(ticket, job) of the wanted job no run has claimed yet, else None."""
        with self._lock:
            return None if self._wanted is None else (self._ticket, self._wanted)

    @property
    def stop_reason(self) -> str:
        return self._why

    def claim(self, ticket: int) -> threading.Event | None:
        """The cancel event of a run that may start now, or None if a newer run was requested."""
        with self._lock:
            if ticket != self._ticket:
                return None
            self._wanted = None
            self._cancel = threading.Event()
            self._active = True
            return self._cancel

    def release(self, cancel: threading.Event) -> None:
        with self._lock:
            if cancel is self._cancel:
                self._active = False

    def new_take_dir(self) -> tuple[int, Path]:
        with self._lock:
            self._count += 1
            return self._count, self.dir / f"take-{self._count:03d}"

    def add_take(self, take: TakeRecord) -> None:
        with self._lock:
            for older in self.takes:
                older.take = None  # only the last take is re-mixed; its stems stay in memory
            self.takes.append(take)
            while len(self.takes) > KEEP_TAKES:
                shutil.rmtree(self.takes.popleft().dir, ignore_errors=True)

    def close(self) -> None:
        """The page was closed: stop its run and delete its files."""
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


@dataclass
class Frame:
    """What the page shows at one moment of a run."""

    kind: str  # "started" (the video analysed, the tempo known), "preview", "progress" (status and scores,
    # no preview), "take", "unchanged", "stopped", "restart" (stopped by a newer change, which starts now),
    # "remixing" (a balance move's audio, before its take is written: quick_remix), "sketch" (a change
    # heard from the last take's notes while the new take is written: quick_sketch)
    status: str  # one line for people
    progress: float = 0.0
    spectrogram: Path | None = None  # music / effects / mix mels with events and beats
    audio: tuple[int, np.ndarray] | None = None  # (16000, int16 mono) preview of the mix
    scores: list[dict] = field(default_factory=list)  # rows: window, iteration, score, value
    take: TakeRecord | None = None  # the take of a "take" frame
    details: str | None = None  # a take's table of what was asked and what it has (summary.take_summary)
    n_windows: int = 1  # of the video (the score curves have a line per window)
    tempo_bpm: float | None = None  # the run's tempo (auto: the one the picture gave)
    tempo_auto: bool = False


__all__ = ["KEEP_TAKES", "STOPPED", "Frame", "Job", "Session", "TakeRecord"]
