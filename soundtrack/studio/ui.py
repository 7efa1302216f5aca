"""The studio's page: the Score tab wired, the other tabs placed. Nothing heavy happens at build time.

Tabs: Score (the live generation loop; its layout is score_tab.py), A/B listening (ab_tab.py)
and Video analysis (analysis_tab.py). The work itself lives beside this file: controls.py
(controls <-> Settings), live.py (the run loop, previews), session.py (a page's takes),
retake.py (re-mix, re-orchestration), listening.py (A/B), api.py (`/generate`); here the
Score tab's events are connected and the page put together.

Every generation event shares one concurrency group ("generate"), so the queue runs one at
a time (the CPU has two cores). A change is two steps: an unqueued one that makes the page's
settings the session's wanted job and stops the run in flight at once, then the queued
handler (live.follow), which runs the newest wanted job to a take; its events use
trigger_mode="always_last", so a change made while it runs asks for one more call, never none.
"""
from __future__ import annotations

import random
from pathlib import Path

import gradio as gr

from soundtrack.errors import InputError
from soundtrack.studio.score_tab import AUTO_LABEL, EXAMPLE_LABELS, ScoreTab, frame_updates
from soundtrack.studio.state import StudioState
from soundtrack.studio.widgets import ASSETS, GENERATE, errors_to, live_session, problem, show_playable

# Where the musician is listening when a control moves: the result video's position (0 before a take);
# a change is sketched from there first (retake.quick_sketch).
PLAYHEAD_JS = "() => document.querySelector('#result video')?.currentTime ?? 0"
PHONE_PX = 720  # narrower than this, the Score tab is one column in the order of its "order-N" classes
CSS = ("""
.gradio-container { max-width: 1400px !important; margin: 0 auto; }
#spectrogram img { object-fit: contain; }
/* tables scroll inside their block instead of widening the page on phones */
#ab-results, #events-table { min-width: 0 !important; overflow-x: auto; contain: inline-size; }
/* a score curve drawn at a wider size must not hold its column (and the page) that wide */
#score-row [id^="plot-"] { contain: inline-size; }
/* one instrument family per row: its on/off box, then its level */
.family-row { flex-wrap: nowrap !important; gap: 6px !important; align-items: center; }
.family-row input[type=number] { width: 4em; }
/* a phone: one column, the video, Generate, the status and the take first, then the controls (score_tab) */
@media (max-width: PHONE_PXpx) {
  #score-row { flex-direction: column; flex-wrap: nowrap; }
  #score-row > .score-column { display: contents; }
""" + "".join(f"  #score-row .order-{n} {{ order: {n}; }}\n" for n in range(1, 12)) + """}
""").replace("PHONE_PX", str(PHONE_PX))
HEADER = """# soundtrack studio
Music **and** sound effects for your video, made together by one model you can steer.
Pick a video, set tempo, instruments and the effects/music balance, press **Generate** and
watch the soundtrack being optimised. Move the balance afterwards and the take's stems are
mixed again at once; move any other control and the take is re-optimised from where it stands."""


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (M_ARENA_MAX) before the server starts its threads.

    Gradio runs handlers on a pool of threads and glibc gives each thread its own arena, so
    a server answering many requests kept ~50 % more memory after its first minute under
    load (docs/RELIABILITY.md, load test). Returns False where there is no glibc.
    """
    import ctypes

    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(-8, arenas))  # -8 = M_ARENA_MAX
    except (OSError, AttributeError):
        return False


def launch_options(studio: StudioState) -> dict:
    """Keyword arguments of `Blocks.launch` the studio needs (look, and its A/B media folder)."""
    media = studio.media_dir
    media.mkdir(parents=True, exist_ok=True)
    return {"css": CSS, "theme": gr.themes.Soft(), "allowed_paths": [str(media)]}


def _close_session(session) -> None:
    if session is not None:
        session.close()


# ------------------------------------------------------------------------------------- Score tab
def _wire_score_tab(tab: ScoreTab, studio: StudioState) -> None:
    from soundtrack.music.families import FAMILY_NAMES
    from soundtrack.pipeline.settings import read_settings_json
    from soundtrack.studio import live, retake
    from soundtrack.studio.controls import (ENSEMBLES, LEVEL_ON, controls_from_settings, ensemble_of,
                                            family_controls, instruments_from_controls, level_name, on_name)

    inputs = {tab.session, tab.video, tab.engine, tab.playhead, *tab.controls.values()}

    def sketch(session, job: live.Job):
        """retake.quick_sketch, or None if it cannot be made: the take follows whatever happens."""
        try:
            return retake.quick_sketch(studio, session, job)
        except Exception:  # noqa: BLE001 - a sketch is a courtesy, never a reason to lose the change
            return None

    def wanter(warm: bool, *, only_if_started: bool):
        def want(data: dict):
            """Not queued: the page's newest settings become the session's job, the run in flight stops."""
            session = live_session(data[tab.session])
            if only_if_started and not session.started:  # a control moved before anything ran
                return {tab.status: gr.skip()}
            try:
                if not data[tab.video]:
                    raise InputError("pick an example or upload a video first")
                job = live.Job(Path(data[tab.video]), tab.settings(data), warm=warm, engine=data[tab.engine],
                               playhead_s=float(data[tab.playhead] or 0.0))
            except InputError as e:
                session.stop(why=problem(str(e)))
                return {tab.status: session.stop_reason}
            # a balance move is heard now (its take written next); another change is sketched from
            # the last take's notes while the model writes the new take (retake.quick_sketch)
            quick = live.quick_remix(session, job) or sketch(session, job)
            session.request(job)
            return {tab.status: quick.status, tab.audio: quick.audio} if quick else {tab.status: gr.skip()}
        return want

    def follow(session, progress=gr.Progress()):
        """Queued: run the session's wanted job and every newer one asked for meanwhile (live.follow)."""
        session = live_session(session)
        yield {tab.status: gr.skip()}  # yielding nothing would blank every output (another call ran the job)
        try:
            for frame in live.follow(studio, session, on_progress=lambda p, desc: progress(p, desc=desc)):
                yield frame_updates(tab, frame)
        except InputError as e:
            yield {tab.status: problem(str(e))}

    # always_last: a change while the handler runs asks for one more call after it, never drops it
    now = dict(queue=False, api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    queued = dict(outputs=tab.outputs, concurrency_id=GENERATE, show_progress_on=[tab.result],
                  api_visibility="private", trigger_mode="always_last")

    def run_on(triggers: list, *, warm: bool = True) -> None:
        """These triggers note the playhead, ask for a take (warm: only once something ran) and start
        the queued handler."""
        gr.on(triggers, None, None, tab.playhead, js=PLAYHEAD_JS, **now).then(
            wanter(warm, only_if_started=warm), inputs, [tab.status, tab.audio], **now).then(
            follow, tab.session, **queued)

    def run_after(event) -> None:
        """A control's own first step (the BPM unticks "auto"), then as run_on."""
        event.then(None, None, tab.playhead, js=PLAYHEAD_JS, **now).then(
            wanter(True, only_if_started=True), inputs, [tab.status, tab.audio], **now).then(
            follow, tab.session, **queued)

    def stop(session):
        running = live_session(session).running
        session.stop()
        return "Stopped." if running else gr.update()

    run_on([tab.generate.click], warm=False)
    tab.stop.click(stop, tab.session, tab.status, **now)
    run_after(tab.dice.click(lambda: random.randrange(2**31 - 1), None, tab.controls["seed"], **now))
    # Any control moved after a run: re-run warm. The BPM slider unticks "auto" first; a family's
    # box and level agree (off is level 0, a level above 0 is on) and an ensemble sets every row.
    c = tab.controls
    run_after(c["tempo"].release(lambda: False, None, c["tempo_auto"], **now))
    tab.video.change(lambda: gr.update(label=AUTO_LABEL), None, c["tempo_auto"], **now)  # a new picture
    rows = {name: c[name] for f in FAMILY_NAMES for name in (on_name(f), level_name(f))}

    def ensemble(values: dict) -> str | None:
        return ensemble_of(instruments_from_controls(values))

    for f in FAMILY_NAMES:
        on, level = c[on_name(f)], c[level_name(f)]

        def toggled(data: dict, f: str = f, level=level) -> dict:
            values = {name: data[widget] for name, widget in rows.items()}
            on_now = values[on_name(f)]
            values[level_name(f)] = (values[level_name(f)] or LEVEL_ON) if on_now else 0.0
            return {level: values[level_name(f)], tab.ensemble: ensemble(values)}

        def levelled(data: dict, f: str = f, on=on) -> dict:
            values = {name: data[widget] for name, widget in rows.items()}
            values[on_name(f)] = values[level_name(f)] > 0
            return {on: values[on_name(f)], tab.ensemble: ensemble(values)}

        run_after(on.input(toggled, set(rows.values()), [level, tab.ensemble], **now))
        run_after(level.release(levelled, set(rows.values()), [on, tab.ensemble], **now))

    def chose(name: str) -> list:
        values = family_controls(ENSEMBLES[name])
        return [values[n] for n in rows]

    run_after(tab.ensemble.input(chose, tab.ensemble, list(rows.values()), **now))
    plain = [name for name in c if name != "tempo" and name not in rows]
    triggers = [c[n].release if isinstance(c[n], gr.Slider) else c[n].submit if isinstance(c[n], gr.Number)
                else c[n].input for n in plain]
    run_on([*triggers, tab.engine.input])  # another engine: a fresh take (live.run), never a warm one

    @errors_to(tab.status)
    def reorchestrate(session, part: str | None, player: str | None) -> dict:
        """The last take's notes, one part played by another family: a new take, no generation."""
        return frame_updates(tab, retake.reorchestrated(studio, live_session(session), part, player))

    tab.reorchestrate.click(reorchestrate, [tab.session, tab.part, tab.player], tab.outputs,
                            concurrency_id=GENERATE, api_visibility="private")

    @errors_to(tab.status)
    def load_settings(path: str):
        saved = read_settings_json(path)
        values = controls_from_settings(saved.settings)
        out = {widget: values[name] for name, widget in tab.controls.items()}
        out[tab.ensemble] = ensemble_of(saved.settings.instruments)
        note = f"Settings loaded (seed {saved.settings.seed})"
        if saved.video in EXAMPLE_LABELS and (ASSETS / saved.video).is_file():
            out[tab.video] = str(ASSETS / saved.video)
            note += f" with the example {saved.video}. Press Generate for the take of this seed."
        elif saved.video:
            note += (f"; they were saved for {saved.video}: upload it and press Generate for the take of "
                     "this seed.")
        if saved.warm_start:
            note += (" (The saved take was a warm re-optimisation of the take before it, which these "
                     "settings alone do not repeat.)")
        if saved.remixed_from is not None:
            note += (f" (The saved take mixed the stems of take {saved.remixed_from} at this balance; "
                     "generated with these settings the stems are optimised for it and sound different.)")
        out[tab.status] = note
        return out

    tab.load.upload(load_settings, tab.load, [*tab.controls.values(), tab.ensemble, tab.video, tab.status],
                    api_visibility="private")


# ------------------------------------------------------------------------------------- the page
def build_ui(studio: StudioState | None = None) -> gr.Blocks:
    """The studio's page; `studio` is what the process shares between sessions (default: a
    StudioState from the environment, as app.py makes it)."""
    from soundtrack.studio.ab_tab import ab_tab
    from soundtrack.studio.analysis_tab import analysis_tab
    from soundtrack.studio.api import endpoint, name_outputs
    from soundtrack.studio.score_tab import score_tab
    from soundtrack.studio.session import Session

    studio = studio or StudioState()

    with gr.Blocks(title="soundtrack studio", delete_cache=(600, 900)) as demo:
        session = gr.State(None, delete_callback=_close_session)  # a session.Session, made on page load
        gr.Markdown(HEADER)
        with gr.Tabs():
            with gr.Tab("Score", id="score"):
                score = score_tab(session, studio)
            with gr.Tab("A/B listening", id="ab") as listening:
                results, result_outputs = ab_tab(session, score, studio)
            with gr.Tab("Video analysis", id="analysis"):
                analysis_tab(studio)
        _wire_score_tab(score, studio)
        show_playable(score.video, score.status, studio, then="press Generate")
        listening.select(results, session, result_outputs, api_visibility="private")
        name_outputs(gr.api(endpoint(studio), api_name="generate", concurrency_id=GENERATE), demo)
        demo.load(lambda: Session(studio.takes_dir), None, session, queue=False, api_visibility="private")
    return demo
