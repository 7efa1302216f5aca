"""The studio's live loop: one browser session, and a run as frames.

    session = Session(state.takes_dir)               # state: the process's StudioState
    session.request(Job(video, Settings(seed=3), warm=True))   # what the page wants now
    for frame in follow(state, session):             # runs it, and whatever is asked meanwhile
        frame.kind       # "preview" per SNIO iteration / window, then "take"; or "stopped"
        frame.spectrogram, frame.audio, frame.scores     # what the page shows live
    session.takes[-1].files["soundtrack.mp4"]

Latest wins. The page hands every change to :meth:`Session.request` at once (not queued):
it records the change as the session's one wanted :class:`Job`, replacing any older one,
and sets the `threading.Event` of the run in flight, whose pipeline raises `Cancelled` at
its next SNIO iteration or sampler step. :func:`follow` (the page's one queued handler)
runs the wanted job; when a newer one replaced it mid-run, it starts that one instead of
ending, so a burst of changes runs once more, with the last values, whatever the browser
does with the events it queued (Gradio skips an event whose handler is still running:
that had left the page at "Stopped" with nothing running, issue 18). :func:`run` is one
take of one ticket, for callers that drive the loop themselves (scripts, tests).

Warm start. A run with `warm=True` hands the previous take's SNIO offsets to the pipeline
(`warm_offsets`) when that take is of the same video with the same seed: SNIO goes on from
where the last take ended instead of from the seed's own latent, so a moved slider changes
the take instead of drawing a new one. Generate (`warm=False`) always starts from the seed.

Nothing here imports Gradio; the pipelines are the StudioState's (soundtrack/studio/state.py).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from soundtrack.config import AUDIO
from soundtrack.pipeline import Settings, SoundtrackPipeline, Take, UpdateKind, remix
from soundtrack.pipeline.settings import write_settings_json
from soundtrack.studio.state import StudioState
from soundtrack.studio.summary import Measures, measure_take, take_summary

KEEP_TAKES = 3  # per session; older take folders are deleted
# A balance move is heard at once (quick_remix); its take is mixed and written after REMIX_DELAY_S
# without a newer move, so a slider dragged about is mixed once and the page plays the preview meanwhile.
REMIX_DELAY_S = 1.0
PREVIEW_LUFS = -20.0  # each stem's loudness in a balance preview before weighting (the mix's own target: -16)
# PREVIEWS: every SNIO iteration of the first window is heard and drawn; after it, one preview
# per window (when it is sampled), and the other iterations update the status and score curves
# only. A preview (vocoder + picture) per iteration of every window made a long video's take
# in the studio slower than `generate` (issue 16).
# ------------------------------------------------------------------------------------- sessions
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

    @property
    def dir(self) -> Path:
        return self.files["report.json"].parent


@dataclass(frozen=True)
class Job:
    """A take the page asked for: this video with these settings, warm or from the seed."""

    video: Path
    settings: Settings
    warm: bool


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


# ----------------------------------------------------------------------------------------- runs
@dataclass
class Frame:
    """What the page shows at one moment of a run."""

    kind: str  # "started" (the video analysed, the tempo known), "preview", "progress" (status and scores,
    # no preview), "take", "unchanged", "stopped", "restart" (stopped by a newer change, which starts now),
    # "remixing" (a balance move's audio, before its take is written: quick_remix)
    status: str  # one line for people
    progress: float = 0.0
    spectrogram: Path | None = None  # music / effects / mix mels with events and beats
    audio: tuple[int, np.ndarray] | None = None  # (16000, int16 mono) preview of the mix
    scores: list[dict] = field(default_factory=list)  # rows: window, iteration, score, value
    take: TakeRecord | None = None
    details: str | None = None  # a take's table of what was asked and what it has (summary.take_summary)
    n_windows: int = 1  # of the video (the score curves have a line per window)
    tempo_bpm: float | None = None  # the run's tempo (auto: the one the picture gave)
    tempo_auto: bool = False


def run(state: StudioState, session: Session, ticket: int, video: str | Path, settings: Settings, *,
        warm: bool,
        on_progress: Callable[[float, str], None] | None = None) -> Iterator[Frame]:
    """Generate a take for `video`, yielding a preview frame per SNIO iteration and per window.

    Yields nothing if a newer run was requested before this one started. Bad input raises
    InputError before anything runs; a newer request (a moved control, Stop) ends the run
    with a "stopped" frame at the next SNIO iteration or sampler step.
    """
    from soundtrack.output import write_take
    from soundtrack.sampling.snio import Cancelled

    # 1. Check inputs, claim the session's run slot
    video = Path(video)
    cancel = session.claim(ticket)
    if cancel is None:
        return
    try:
        prev = session.last_take
        same_video = prev is not None and prev.video == video
        if warm and same_video and prev.settings == settings:
            yield Frame("unchanged", f"Take {prev.number} already has these settings.", 1.0, take=prev)
            return
        if _balance_move(prev, video, settings, warm=warm):
            yield _remixed(session, prev, settings, on_progress, cancel)  # DECISIONS #36
            return
        same_seed = warm and same_video and prev.settings.seed == settings.seed
        warm_offsets = prev.snio_offsets if same_seed else None
        # 2. Load (once) and analyse the video (cached by the pipeline)
        pipe = state.pipeline("full")
        plan = pipe.plan(video)
        tempo = plan.tempo_for(settings.tempo)
        auto, n_win = settings.tempo == "auto", len(plan.windows)
        start = f"warm start from take {prev.number}" if warm_offsets is not None else f"seed {settings.seed}"
        yield Frame("started", f"Generating ({start}) at {tempo:.0f} BPM{' (auto)' if auto else ''}: "
                               f"{plan.duration_s:.1f} s of video in {n_win} window{'s' * (n_win > 1)}.", 0.0,
                    tempo_bpm=tempo, tempo_auto=auto, n_windows=n_win)
        preview_dir = session.dir / "preview"
        shutil.rmtree(preview_dir, ignore_errors=True)
        preview_dir.mkdir(parents=True)
        rows: list[dict] = []
        take = None

        def step(p: float) -> None:
            if on_progress is not None:
                on_progress(p, f"generating ({start})")

        # 3. Stream the generation: a preview per SNIO iteration and per sampled window
        with contextlib.closing(pipe.stream(video, settings, warm_offsets=warm_offsets, cancel=cancel,
                                            on_step=step)) as updates:
            for u in updates:
                if u.kind is UpdateKind.DONE:
                    take = u.take
                    break
                label = (f"SNIO iteration {u.iteration}/{settings.snio_iters}" if u.kind is UpdateKind.SNIO
                         else "sampled")
                if u.kind is UpdateKind.SNIO:
                    rows.extend({"window": f"window {u.window + 1}", "iteration": u.iteration, "score": k,
                                 "value": float(v)} for k, v in u.scores.items())
                total = u.scores.get("total")
                status = (f"Window {u.window + 1}/{u.n_windows}, {label} ({start}), {tempo:.0f} BPM"
                          + (f", total score {total:+.2f}" if total is not None else ""))
                if u.kind is UpdateKind.SNIO and u.window > 0:  # previews: see PREVIEWS
                    yield Frame("progress", status, u.progress, scores=list(rows), tempo_bpm=tempo,
                                tempo_auto=auto, n_windows=n_win)
                    continue
                png = preview_dir / f"{len(rows):04d}-{u.kind.value}-{u.window}.png"
                audio = render_preview(pipe, u, plan=plan, png=png)
                yield Frame("preview", status, u.progress, spectrogram=png, audio=audio, scores=list(rows),
                            tempo_bpm=tempo, tempo_auto=auto, n_windows=n_win)
        assert take is not None, "the pipeline's stream ended without a take"
        # 4. Write the take: stems, mix, video, picture, report, settings
        if on_progress is not None:
            on_progress(1.0, "writing the take")
        number, out = session.new_take_dir()
        take = dataclasses.replace(take, report=state.public_report(take.report))
        files = write_take(take, out, video=video)
        files["settings.json"] = write_settings_json(out / "settings.json", settings, video=video.name,
                                                     take=number, warm_start=warm_offsets is not None)
        report = json.loads(files["report.json"].read_text())
        record = TakeRecord(number=number, video=video, settings=settings, snio_offsets=take.snio_offsets,
                            files=files, report=report,
                            warm_from=prev.number if warm_offsets is not None else None,
                            take=dataclasses.replace(take, mix=None), scores=list(rows),
                            measures=measure_take(pipe, take, report))
        session.add_take(record)
        headline, details = take_summary(record)
        yield Frame("take", headline, 1.0, spectrogram=files["spectrogram.png"], audio=None, scores=rows,
                    take=record, details=details, tempo_bpm=tempo, tempo_auto=auto, n_windows=n_win)
    except Cancelled:
        yield Frame("stopped", session.stop_reason, 0.0)
    finally:
        session.release(cancel)


def follow(state: StudioState, session: Session, *,
           on_progress: Callable[[float, str], None] | None = None) -> Iterator[Frame]:
    """Run the session's wanted job, then each job asked for while it ran (latest wins).

    A run stopped by a newer request is not the end: its "stopped" frame becomes a
    "restart" one and the newest job starts, so the page always ends with a take of its last
    settings (or an error, or Stop). Yields nothing when no job is waiting (another handler
    ran it already).
    """
    while (wanted := session.pending()) is not None:
        ticket, job = wanted
        for frame in run(state, session, ticket, job.video, job.settings, warm=job.warm,
                         on_progress=on_progress):
            if frame.kind == "stopped" and session.pending() is not None:
                yield Frame("restart", "Starting again with your latest change.", 0.0)
                break
            yield frame


def _balance_move(prev: TakeRecord | None, video: Path, settings: Settings, *, warm: bool) -> bool:
    """Whether `settings` differ from the last take's only by the balance (its stems can be re-mixed)."""
    return (warm and prev is not None and prev.video == video and prev.take is not None
            and prev.settings != settings
            and dataclasses.replace(prev.settings, balance=settings.balance) == settings)


def quick_remix(session: Session, job: Job) -> Frame | None:
    """A balance move, heard at once: the last take's stems at the new balance (balance_preview),
    as a "remixing" frame; None when the job is not a balance move of the last take. Cheap (about
    0.1 s for 80 s of audio): the page calls it unqueued, before the run that writes the take."""
    prev = session.last_take
    if prev is None or not _balance_move(prev, Path(job.video), job.settings, warm=job.warm):
        return None
    audio = balance_preview(prev, job.settings.balance)
    if audio is None:
        return None
    return Frame("remixing", f"Take {prev.number} at balance {job.settings.balance:.2f}: listen to the "
                             "re-mix while its files are written.", 0.0, audio=audio)


def balance_preview(take: TakeRecord, balance: float) -> tuple[int, np.ndarray] | None:
    """The take's 16 kHz stems levelled as the mixer levels them (each to the same loudness, then
    weighted 1 - b and b, audio.mix.balance_gains), summed and kept under full scale: (16000, int16
    mono). Without the effects' panning and the true-peak limiter of the written mix, which follows.
    None when the take's stems are no longer in memory."""
    from soundtrack.audio.mix import balance_gains, loudness_lufs

    stems = take.take
    if stems is None:
        return None
    if take.stem_lufs is None:  # once per take: the stems do not change
        take.stem_lufs = (loudness_lufs(stems.music16, AUDIO.sample_rate),
                          loudness_lufs(stems.sfx16, AUDIO.sample_rate))
    mix = np.zeros(len(stems.music16), np.float32)
    for wave, lufs, weight in zip((stems.music16, stems.sfx16), take.stem_lufs, balance_gains(balance)):
        if weight > 0 and np.isfinite(lufs):
            mix += np.asarray(wave, np.float32) * np.float32(weight * 10 ** ((PREVIEW_LUFS - lufs) / 20))
    peak = float(np.abs(mix).max()) if len(mix) else 0.0
    if peak > 0.99:
        mix *= 0.99 / peak
    return AUDIO.sample_rate, (mix * 32767).astype(np.int16)


def _remixed(session: Session, prev: TakeRecord, settings: Settings,
             on_progress: Callable[[float, str], None] | None, cancel: threading.Event) -> Frame:
    """A new take: the last take's stems mixed at the new balance (pipeline.remix), written. A newer
    request stops it between the mix and the files (raises Cancelled)."""
    from soundtrack.output import write_take
    from soundtrack.sampling.snio import Cancelled

    if cancel.wait(REMIX_DELAY_S):  # the slider is still moving: its last position will be mixed
        raise Cancelled()
    if on_progress is not None:
        on_progress(0.5, f"re-mixing take {prev.number}")
    take = remix(prev.take, settings.balance)
    if cancel.is_set():
        raise Cancelled()
    number, out = session.new_take_dir()
    files = write_take(take, out, video=prev.video)
    files["settings.json"] = write_settings_json(out / "settings.json", settings, video=prev.video.name,
                                                 take=number, remixed_from=prev.number)
    record = TakeRecord(number=number, video=prev.video, settings=settings, snio_offsets=take.snio_offsets,
                        files=files, report=json.loads(files["report.json"].read_text()), warm_from=None,
                        take=dataclasses.replace(take, mix=None), remixed_from=prev.number,
                        scores=prev.scores, measures=prev.measures)  # the same stems
    session.add_take(record)
    headline, details = take_summary(record)
    return Frame("take", headline, 1.0, spectrogram=files["spectrogram.png"], audio=None,
                 scores=list(prev.scores), take=record, details=details, tempo_bpm=take.tempo_bpm,
                 tempo_auto=settings.tempo == "auto", n_windows=len(take.report["windows"]))


def render_preview(pipe: SoundtrackPipeline, u, *, plan, png: Path) -> tuple[int, np.ndarray]:
    """The pipeline's preview audio of an update; its mels drawn (plots.preview_png); the mix as int16."""
    from soundtrack.plots import preview_png

    wave = pipe.preview_wave(u)  # (T,) 16 kHz: music + effects
    window = plan.windows[u.window]
    n = int(min(len(wave), round((plan.duration_s - window.start_s) * AUDIO.sample_rate)))
    mix = wave[:n]
    t0 = window.start_s  # the grid the music is conditioned on, in the window's time
    seconds = n / AUDIO.sample_rate
    preview_png(png, music_mel=u.music_mel.cpu().numpy(), sfx_mel=u.sfx_mel.cpu().numpy(), duration_s=seconds,
                events=plan.window_events(window), grid_beats=u.grid.beats_between(t0, t0 + seconds) - t0)
    peak = float(np.abs(mix).max()) if n else 0.0
    scaled = mix * (0.9 / peak) if peak > 1e-6 else mix
    return AUDIO.sample_rate, (np.clip(scaled, -1.0, 1.0) * 32767).astype(np.int16)


__all__ = ["STOPPED", "Frame", "Job", "Session", "TakeRecord", "balance_preview", "follow", "quick_remix",
           "render_preview", "run", "take_summary"]
