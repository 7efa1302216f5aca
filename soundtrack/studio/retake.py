"""Takes made from the session's last take without generating: a re-mix and a re-orchestration.

    frame = quick_remix(session, job)                 # a balance move, heard at once (unqueued)
    frame = remixed(session, prev, settings, ...)     # ... and its take, written (DECISIONS #36)
    frame = reorchestrated(state, session, "strings", "brass")   # the score engine's notes, other players
    frame = quick_sketch(state, session, job)         # any other change: the last notes, re-staged (unqueued)

A balance move needs no generation: the mixer meets the slider exactly, so the last take's
stems are mixed again (pipeline.remix). A score-engine take's notes can be played by other
families (pipeline.reorchestrate_take): rendered and mixed again, a fraction of a second.
Each writes a new take of the session; the last take's stems stay in memory for the next one.
Any other change of a score-engine take (tempo, key, mode, instruments, intensity) is sketched at
once from the last take's notes (music.restage), under the playhead, while the model writes the
new take (issue 18: a change heard in under 2 s however long the video).
"""
from __future__ import annotations

import dataclasses
import json
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from soundtrack.config import AUDIO
from soundtrack.errors import InputError
from soundtrack.pipeline import Settings, remix, reorchestrate_take
from soundtrack.pipeline.settings import write_settings_json
from soundtrack.studio.session import Frame, Job, Session, TakeRecord
from soundtrack.studio.state import ENGINE_VARIANTS, StudioState
from soundtrack.studio.summary import measure_take, take_summary

# A balance move is heard at once (quick_remix); its take is mixed and written after REMIX_DELAY_S
# without a newer move, so a slider dragged about is mixed once and the page plays the preview meanwhile.
REMIX_DELAY_S = 1.0
SKETCH_S = 10.0  # seconds of the sketch, from the playhead
PREVIEW_LUFS = -20.0  # each stem's loudness in a balance preview before weighting (the mix's own target: -16)


def balance_move(prev: TakeRecord | None, video: Path, settings: Settings, *, warm: bool,
                 engine: str) -> bool:
    """Whether `settings` differ from the last take's only by the balance (its stems can be re-mixed)."""
    return (warm and prev is not None and prev.video == video and prev.take is not None
            and prev.engine == engine and prev.settings != settings
            and dataclasses.replace(prev.settings, balance=settings.balance) == settings)


def quick_remix(session: Session, job: Job) -> Frame | None:
    """A balance move, heard at once: the last take's stems at the new balance (balance_preview),
    as a "remixing" frame; None when the job is not a balance move of the last take. Cheap (about
    0.1 s for 80 s of audio): the page calls it unqueued, before the run that writes the take."""
    prev = session.last_take
    moved = balance_move(prev, Path(job.video), job.settings, warm=job.warm, engine=job.engine)
    if prev is None or not moved:
        return None
    audio = balance_preview(prev, job.settings.balance)
    if audio is None:
        return None
    return Frame("remixing", f"Take {prev.number} at balance {job.settings.balance:.2f}: listen to the "
                             "re-mix while its files are written.", 0.0, audio=audio)


def quick_sketch(state: StudioState, session: Session, job: Job) -> Frame | None:
    """A change of a score-engine take, heard at once: the last take's notes re-staged under the
    job's controls (music.restage: the same beat positions on the new grid, the same scale degrees
    in the new key and mode, played by the families its weights choose) for SKETCH_S seconds from
    job.playhead_s, with the take's effects, at the job's balance; a "sketch" frame. None when
    there is nothing to sketch (another engine or video, Generate, a balance move, no notes).
    About 0.2 s: the page calls it unqueued, while the model writes the new take."""
    from soundtrack.audio.mix import loudness_lufs
    from soundtrack.music.restage import excerpt, restage
    from soundtrack.music.theory import PITCH_NAMES
    from soundtrack.pipeline.notes import render_take

    prev = session.last_take
    if (prev is None or prev.take is None or prev.take.score is None or not job.warm or job.engine != "score"
            or prev.engine != "score" or prev.video != Path(job.video) or prev.settings == job.settings
            or balance_move(prev, Path(job.video), job.settings, warm=True, engine=job.engine)):
        return None
    pipe = state.pipeline(state.variant_of(job.engine))
    plan = pipe.plan(job.video)  # analysed already: cached by the pipeline
    tempo = plan.tempo_for(job.settings.tempo)
    controls = job.settings.controls(tempo)
    score = restage(prev.take.score, grid=plan.beat_grid(tempo), key=controls.key, mode=controls.mode,
                    weights=dict(controls.instruments), duration=plan.duration_s)
    t0 = float(min(max(job.playhead_s, 0.0), max(plan.duration_s - 1.0, 0.0)))
    seconds = min(SKETCH_S, plan.duration_s - t0)
    _, notes16 = render_take(excerpt(score, start_s=t0, seconds=seconds), soundfont=pipe.soundfont)
    sfx16 = prev.take.sfx16[int(t0 * AUDIO.sample_rate):][:len(notes16)]
    sfx16 = np.pad(sfx16, (0, len(notes16) - len(sfx16)))
    lufs = [loudness_lufs(x, AUDIO.sample_rate) for x in (notes16, sfx16)]
    mix = levelled_mix((notes16, sfx16), lufs, job.settings.balance)
    who = ", ".join(score.families) or "no family"
    return Frame("sketch", f"Sketch from {t0:.0f} s: take {prev.number}'s notes at {tempo:.0f} BPM in "
                           f"{PITCH_NAMES[controls.key]} {controls.mode}, played by {who}. The new take is "
                           "being written.", 0.0, audio=(AUDIO.sample_rate, (mix * 32767).astype(np.int16)),
                 tempo_bpm=tempo, tempo_auto=job.settings.tempo == "auto")


def levelled_mix(stems: Sequence[np.ndarray], lufs: Sequence[float], balance: float) -> np.ndarray:
    """Music and effects (16 kHz mono) levelled as the mixer levels them (each to the same loudness,
    then weighted 1 - b and b, audio.mix.balance_gains), summed and kept under full scale."""
    from soundtrack.audio.mix import balance_gains

    mix = np.zeros(len(stems[0]), np.float32)
    for wave, loud, weight in zip(stems, lufs, balance_gains(balance)):
        if weight > 0 and np.isfinite(loud):
            gain = np.float32(weight * 10 ** ((PREVIEW_LUFS - loud) / 20))
            mix += np.asarray(wave, np.float32)[:len(mix)] * gain
    peak = float(np.abs(mix).max()) if len(mix) else 0.0
    if peak > 0.99:
        mix *= 0.99 / peak
    return mix


def balance_preview(take: TakeRecord, balance: float) -> tuple[int, np.ndarray] | None:
    """The take's 16 kHz stems at `balance` (levelled_mix): (16000, int16 mono). Without the effects'
    panning and the true-peak limiter of the written mix, which follows. None when the take's stems
    are no longer in memory."""
    from soundtrack.audio.mix import loudness_lufs

    stems = take.take
    if stems is None:
        return None
    if take.stem_lufs is None:  # once per take: the stems do not change
        take.stem_lufs = (loudness_lufs(stems.music16, AUDIO.sample_rate),
                          loudness_lufs(stems.sfx16, AUDIO.sample_rate))
    mix = levelled_mix((stems.music16, stems.sfx16), take.stem_lufs, balance)
    return AUDIO.sample_rate, (mix * 32767).astype(np.int16)


def remixed(session: Session, prev: TakeRecord, settings: Settings,
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


def reorchestrated(state: StudioState, session: Session, part: str | None, family: str | None) -> Frame:
    """A new take: the last take's `part` (a family that plays in it) played by `family`, rendered and
    mixed again with the same soundfont (pipeline.reorchestrate_take; no generation). One-line
    InputError, and nothing written, without a score-engine take or for an unknown or absent family."""
    from soundtrack.output import write_take

    prev = session.last_take
    if prev is None or prev.take is None:
        raise InputError("make a take with the score engine first: re-orchestration plays its notes")
    if not part or not family:
        raise InputError("choose the part to re-orchestrate and the family to play it")
    if part == family:
        raise InputError(f"the {part} part is played by {family} already: choose another family")
    soundfont = prev.report.get("score", {}).get("soundfont")
    take = reorchestrate_take(prev.take, {part: family}, soundfont=soundfont)
    number, out = session.new_take_dir()
    files = write_take(take, out, video=prev.video)
    files["settings.json"] = write_settings_json(out / "settings.json", prev.settings, video=prev.video.name,
                                                 take=number)
    report = json.loads(files["report.json"].read_text())
    pipe = state.pipeline(ENGINE_VARIANTS[prev.engine])  # loaded: it made the take
    record = TakeRecord(number=number, video=prev.video, settings=prev.settings,
                        snio_offsets=take.snio_offsets, files=files, report=report, warm_from=None,
                        take=dataclasses.replace(take, mix=None), scores=prev.scores,
                        measures=measure_take(pipe, take, report), reorchestrated_from=prev.number)
    session.add_take(record)
    headline, details = take_summary(record)
    return Frame("take", headline, 1.0, spectrogram=files["spectrogram.png"], scores=list(prev.scores),
                 take=record, details=details, tempo_bpm=take.tempo_bpm,
                 tempo_auto=prev.settings.tempo == "auto", n_windows=len(take.report["windows"]))


__all__ = ["PREVIEW_LUFS", "REMIX_DELAY_S", "balance_move", "balance_preview", "levelled_mix", "quick_remix",
           "quick_sketch", "remixed", "reorchestrated"]
