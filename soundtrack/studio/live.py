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
(`warm_offsets`) when that take is of the same video with the same seed and engine: SNIO goes
on from where the last take ended instead of from the seed's own latent, so a moved slider
changes the take instead of drawing a new one. Generate (`warm=False`) always starts from the
seed, and so does a change of engine ("neural" or "score": their latents are not alike).

Nothing here imports Gradio; the pipelines are the StudioState's (soundtrack/studio/state.py).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

from soundtrack.config import AUDIO, DEFAULT_ENGINE
from soundtrack.pipeline import Settings, SoundtrackPipeline, UpdateKind
from soundtrack.pipeline.settings import Controls, write_settings_json
from soundtrack.studio.retake import balance_move, balance_preview, levelled_mix, quick_remix, remixed
from soundtrack.studio.session import KEEP_TAKES, STOPPED, Frame, Job, Session, TakeRecord
from soundtrack.studio.state import StudioState
from soundtrack.studio.summary import measure_take, take_summary

# PREVIEWS: every SNIO iteration of the first window is heard and drawn; after it, one preview
# per window (when it is sampled), and the other iterations update the status and score curves
# only. A preview (vocoder + picture) per iteration of every window made a long video's take
# in the studio slower than `generate` (issue 16). The score engine's notes are heard once a
# window is sampled (render_preview; docs/DECISIONS.md #42).
NOTES_LATER = "effects only: the notes play once the window is sampled"


# ----------------------------------------------------------------------------------------- runs
def run(state: StudioState, session: Session, ticket: int, video: str | Path, settings: Settings, *,
        warm: bool, engine: str = DEFAULT_ENGINE,
        on_progress: Callable[[float, str], None] | None = None) -> Iterator[Frame]:
    """Generate a take for `video` with `engine`, yielding a preview frame per SNIO iteration and per
    window.

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
        variant = state.variant_of(engine)  # one line for an unknown or uninstalled engine
        prev = session.last_take
        same_take = prev is not None and prev.video == video and prev.engine == engine
        if warm and same_take and prev.settings == settings:
            yield Frame("unchanged", f"Take {prev.number} already has these settings.", 1.0, take=prev)
            return
        if balance_move(prev, video, settings, warm=warm, engine=engine):
            yield remixed(session, prev, settings, on_progress, cancel)  # DECISIONS #36
            return
        same_seed = warm and same_take and prev.settings.seed == settings.seed
        warm_offsets = prev.snio_offsets if same_seed else None
        # 2. Load (once) and analyse the video (cached by the pipeline)
        pipe = state.pipeline(variant)
        plan = pipe.plan(video)
        tempo = plan.tempo_for(settings.tempo)
        controls = settings.controls(tempo)
        auto, n_win = settings.tempo == "auto", len(plan.windows)
        start = f"warm start from take {prev.number}" if warm_offsets is not None else f"seed {settings.seed}"
        if engine != DEFAULT_ENGINE:
            start += f", {engine} engine"
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
                          + (f", total score {total:+.2f}" if total is not None else "")
                          + (f"; {NOTES_LATER}" if pipe.engine == "score" and u.roll is None else ""))
                if u.kind is UpdateKind.SNIO and u.window > 0:  # previews: see PREVIEWS
                    yield Frame("progress", status, u.progress, scores=list(rows), tempo_bpm=tempo,
                                tempo_auto=auto, n_windows=n_win)
                    continue
                png = preview_dir / f"{len(rows):04d}-{u.kind.value}-{u.window}.png"
                audio = render_preview(pipe, u, plan=plan, png=png, controls=controls,
                                       balance=settings.balance)
                yield Frame("preview", status, u.progress, spectrogram=png, audio=audio, scores=list(rows),
                            tempo_bpm=tempo, tempo_auto=auto, n_windows=n_win)
        assert take is not None, "the pipeline's stream ended without a take"
        # 4. Write the take: stems, mix, video, picture, report, settings
        if on_progress is not None:
            on_progress(1.0, "writing the take")
        number, out = session.new_take_dir()
        take = dataclasses.replace(take, report=state.public_report(take.report, variant))
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
        for frame in run(state, session, ticket, job.video, job.settings, warm=job.warm, engine=job.engine,
                         on_progress=on_progress):
            if frame.kind == "stopped" and session.pending() is not None:
                yield Frame("restart", "Starting again with your latest change.", 0.0)
                break
            yield frame


def render_preview(pipe: SoundtrackPipeline, u, *, plan, png: Path, controls: Controls | None = None,
                   balance: float = 0.5) -> tuple[int, np.ndarray]:
    """The preview audio of an update, its picture drawn (plots.preview_png); the mix as int16.

    Neural engine: the update's music and effects mels vocoded (pipeline.preview_wave). Score
    engine: its effects vocoded, and once the window is sampled (the update carries its roll)
    the window's notes played through the soundfont (notes.window_score, ~0.15 s for 10 s),
    levelled against the effects at the take's balance as the mixer levels them; the notes are
    drawn as a fourth panel. `controls` (key, mode, instruments) decode the notes.
    """
    from soundtrack.pipeline.notes import render_take, window_score
    from soundtrack.plots import preview_png

    wave = pipe.preview_wave(u)  # (T,) 16 kHz: music + effects (score engine: effects)
    window = plan.windows[u.window]
    n = int(min(len(wave), round((plan.duration_s - window.start_s) * AUDIO.sample_rate)))
    mix = wave[:n]
    t0 = window.start_s  # the grid the music is conditioned on, in the window's time
    seconds = n / AUDIO.sample_rate
    score = None
    if pipe.engine == "score" and u.roll is not None and controls is not None and n:
        from soundtrack.audio.mix import loudness_lufs

        score = window_score(u.roll, start_s=t0, seconds=seconds, controls=controls, grid=u.grid)
        _, notes16 = render_take(score, soundfont=pipe.soundfont)
        notes16 = np.pad(notes16, (0, max(0, n - len(notes16))))[:n]
        lufs = [loudness_lufs(x, AUDIO.sample_rate) for x in (notes16, mix)]
        mix = levelled_mix((notes16, mix), lufs, balance)
    preview_png(png, music_mel=u.music_mel.cpu().numpy(), sfx_mel=u.sfx_mel.cpu().numpy(), duration_s=seconds,
                events=plan.window_events(window), grid_beats=u.grid.beats_between(t0, t0 + seconds) - t0,
                score=score)
    peak = float(np.abs(mix).max()) if n else 0.0
    scaled = mix * (0.9 / peak) if peak > 1e-6 else mix
    return AUDIO.sample_rate, (np.clip(scaled, -1.0, 1.0) * 32767).astype(np.int16)


__all__ = ["KEEP_TAKES", "NOTES_LATER", "STOPPED", "Frame", "Job", "Session", "TakeRecord", "balance_preview",
           "follow", "quick_remix", "render_preview", "run", "take_summary"]
