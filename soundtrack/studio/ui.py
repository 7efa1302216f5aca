"""Gradio layout and wiring. Nothing heavy happens at build time; work runs in handlers.

Tabs: Score (the live generation loop), A/B listening (blind pairs, votes, results) and
Video analysis. The work itself lives beside this file: controls.py (controls <->
Settings), live.py (sessions, the run loop, previews), listening.py (A/B), api.py
(`/generate`); here it is only laid out and connected.

Every generation event shares one concurrency group ("generate"), so the queue runs one at
a time (the CPU has two cores). A change is two steps: an unqueued one that makes the page's
settings the session's wanted job and stops the run in flight at once, then the queued
handler (live.follow), which runs the newest wanted job to a take; its events use
trigger_mode="always_last", so a change made while it runs asks for one more call, never none.
"""
from __future__ import annotations

import functools
import inspect
import random
from dataclasses import dataclass
from pathlib import Path

import gradio as gr

from soundtrack.errors import InputError
from soundtrack.studio.state import StudioState

ASSETS = Path(__file__).resolve().parents[2] / "assets"
EXAMPLE_LABELS = {"flashes-and-bounces.mp4": "Flashes and bounces (8 s)",
                  "night-hits.mp4": "Night hits (8 s)",
                  "bigbuckbunny.mp4": "Big Buck Bunny (5 s)", "bikes.mp4": "Bikes, with cuts (10 s)"}
SCORES = ("tempo", "balance", "sync", "instruments", "cvsm", "total")  # the score curves, in this order
SCORES_HELP = ("**Score curves**, one point per SNIO iteration and one line per window: the chance the beat "
               "is at your tempo, how many dB the stems are off your balance before the mixer levels them, "
               "how well effect hits match the picture's events, how much the music agrees with your "
               "families, how well sound and picture match (CVSM), and SNIO's objective, their weighted "
               "sum. The take's own measurements are in the table above.")
AUTO_LABEL = "auto (from the picture)"  # the tempo box; after a run with auto: "auto: 125 BPM"
DOWNLOADS = {"soundtrack.mp4": "Video (mp4)", "mix.wav": "Mix (wav)", "music.wav": "Music stem (wav)",
             "sfx.wav": "Effects stem (wav)", "settings.json": "Settings (json)"}
GENERATE = "generate"  # the concurrency group of every event that generates
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
/* a phone: one column, the video, Generate, the status and the take first, then the controls (_score_tab) */
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


def problem(message: str) -> str:
    """A problem the person should see: a toast now, and the line returned for a status line."""
    gr.Warning(message)
    return f"⚠️ {message[:1].upper()}{message[1:]}"


def errors_to(status):
    """Decorate a handler that returns (or yields) {component: value} so that an InputError shows
    on the `status` Markdown (and as a toast), one line. A raised gr.Error would instead cover
    every output of the event with a red "Error" box that stays until that same event succeeds."""
    def wrap(fn):
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen(*args, **kwargs):
                try:
                    yield from fn(*args, **kwargs)
                except InputError as e:
                    yield {status: problem(str(e))}
            return gen

        @functools.wraps(fn)
        def call(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except InputError as e:
                return {status: problem(str(e))}
        return call
    return wrap


def _close_session(session) -> None:
    if session is not None:
        session.close()


def live_session(session):
    """The page's live.Session (made when the page loads)."""
    if session is None:
        raise gr.Error("This page lost its session: reload it.", print_exception=False)
    return session


# ------------------------------------------------------------------------------------- Score tab
@dataclass
class ScoreTab:
    session: gr.State
    video: gr.Video
    controls: dict  # control name -> component (controls.CONTROL_NAMES)
    ensemble: gr.Radio  # presets that set every family row (controls.ENSEMBLES); not a setting itself
    generate: gr.Button
    stop: gr.Button
    dice: gr.Button
    load: gr.UploadButton
    status: gr.Markdown
    details: gr.Markdown  # the last take's table: what was asked, what it has
    spectrogram: gr.Image
    audio: gr.Audio
    plots: dict  # score name -> gr.LinePlot
    result: gr.Video
    downloads: dict  # file name -> gr.DownloadButton

    def settings(self, data: dict):
        """Settings from an event's {component: value} inputs."""
        from soundtrack.studio.controls import settings_from_controls

        return settings_from_controls({name: data[c] for name, c in self.controls.items()})

    @property
    def outputs(self) -> list:
        return [self.status, self.details, self.spectrogram, self.audio, self.result, *self.plots.values(),
                *self.downloads.values(), self.controls["tempo"], self.controls["tempo_auto"]]


def _control_widgets() -> tuple[dict, gr.Radio]:
    from soundtrack.music.families import FAMILY_NAMES
    from soundtrack.studio.controls import (ENSEMBLES, KEY_CHOICES, MODE_CHOICES, TEMPO_SLIDER,
                                            default_controls, ensemble_of, instruments_from_controls,
                                            level_name, on_name)

    d = default_controls()
    c: dict = {}
    with gr.Row(equal_height=True):
        c["tempo"] = gr.Slider(*TEMPO_SLIDER[:2], value=d["tempo"], step=TEMPO_SLIDER[2], label="Tempo (BPM)",
                               scale=3, min_width=200, elem_id="tempo")
        c["tempo_auto"] = gr.Checkbox(value=d["tempo_auto"], label=AUTO_LABEL, scale=1, min_width=120,
                                      elem_id="tempo-auto")
    with gr.Group(elem_id="instruments"):
        ensemble = gr.Radio(list(ENSEMBLES), value=ensemble_of(instruments_from_controls(d)),
                            label="Instruments",
                            info="pick an ensemble, or set each family: on/off and its level",
                            elem_id="ensemble")
        with gr.Row(elem_id="family-rows"):
            for half in (FAMILY_NAMES[:5], FAMILY_NAMES[5:]):
                with gr.Column(min_width=250):
                    for f in half:
                        with gr.Row(equal_height=True, elem_classes="family-row"):
                            c[on_name(f)] = gr.Checkbox(value=d[on_name(f)], label=f, container=False,
                                                        min_width=125, scale=2, elem_id=f"family-{f}")
                            c[level_name(f)] = gr.Slider(0, 1, value=d[level_name(f)], step=0.05,
                                                         label=f"{f} level", show_label=False,
                                                         container=False, min_width=120, scale=3,
                                                         elem_id=f"level-{f}")
    c["balance"] = gr.Slider(0, 1, value=d["balance"], step=0.01, label="Balance: music (0) .. effects (1)",
                             info="0.5 = equal loudness", elem_id="balance")
    c["intensity"] = gr.Slider(0.6, 1, value=d["intensity"], step=0.01,
                               label="Intensity (0.6 calm .. 1 loud)")
    with gr.Row():
        c["key"] = gr.Dropdown(KEY_CHOICES, value=d["key"], label="Key", min_width=100)
        c["mode"] = gr.Dropdown(MODE_CHOICES, value=d["mode"], label="Mode", min_width=100)
    return c, ensemble


def _quality_widgets(c: dict) -> gr.Button:
    from soundtrack.pipeline import MAX_SNIO_ITERS, MAX_STEPS
    from soundtrack.studio.controls import default_controls

    d = default_controls()
    with gr.Row(equal_height=True):
        c["seed"] = gr.Number(value=d["seed"], label="Seed", precision=0, minimum=0, maximum=2**31 - 1,
                              min_width=120, elem_id="seed")
        dice = gr.Button("Random seed", size="md", min_width=120, elem_id="dice")
    # Accordions holding restorable controls start open, so their children are mounted from the
    # start: once in CI, settings loaded while "Quality and time" had never been opened showed
    # the old value when it was (Gradio mounts a closed accordion's children lazily). Closing an
    # accordion afterwards only hides them.
    with gr.Accordion("Quality and time", open=True):
        c["steps"] = gr.Slider(1, MAX_STEPS, value=d["steps"], step=1, label="Sampler steps",
                               info="more: cleaner, slower", elem_id="steps")
        c["snio_iters"] = gr.Slider(0, MAX_SNIO_ITERS, value=d["snio_iters"], step=1,
                                    label="SNIO iterations (0 = plain sampling)",
                                    info="noise optimisation towards the scores", elem_id="snio-iters")
        c["guidance"] = gr.Slider(1, 15, value=d["guidance"], step=0.1, label="Guidance (CFG scale)")
    return dice


def _score_tab(session: gr.State) -> ScoreTab:
    from soundtrack.studio.summary import CURVES

    examples = [p for p in (ASSETS / n for n in EXAMPLE_LABELS) if p.is_file()]
    # On a phone the two columns lose their boxes (CSS: display contents) and their pieces are
    # ordered by the "order-N" classes: the video, Generate, the status, the take and its
    # downloads, the controls, then the take's table, its picture and the score curves.
    with gr.Row(elem_id="score-row"):
        with gr.Column(scale=2, min_width=300, elem_classes="score-column"):
            video = gr.Video(label="Video", sources=["upload"], height=300, elem_id="video",
                             elem_classes="order-1")
            if examples:
                with gr.Column(elem_classes="order-2"):
                    gr.Examples(examples=[[str(p)] for p in examples], inputs=video, label="Examples",
                                example_labels=[EXAMPLE_LABELS[p.name] for p in examples])
            with gr.Row(elem_classes="order-3"):
                generate = gr.Button("Generate", variant="primary", elem_id="generate", min_width=120)
                stop = gr.Button("Stop", variant="stop", elem_id="stop", min_width=80)
            with gr.Column(elem_classes="order-8"):
                controls, ensemble = _control_widgets()
                dice = _quality_widgets(controls)
                load = gr.UploadButton("Load settings (json)", file_types=[".json"], size="md",
                                       elem_id="load-settings")
        with gr.Column(scale=3, min_width=300, elem_classes="score-column"):
            status = gr.Markdown("Pick a video to start.", elem_id="status", elem_classes="order-4")
            result = gr.Video(label="Your video with its soundtrack", interactive=False, height=360,
                              visible=False, elem_id="result", elem_classes="order-5")
            audio = gr.Audio(label="Listen (live preview, then the mix)", interactive=False,
                             elem_id="preview-audio", elem_classes="order-6")
            with gr.Row(elem_classes="order-7"):
                downloads = {f: gr.DownloadButton(label, visible=False, size="md", min_width=120,
                                                  elem_id=f"download-{f.replace('.', '-')}")
                             for f, label in DOWNLOADS.items()}
            details = gr.Markdown(elem_id="take-details", elem_classes="order-9")
            spectrogram = gr.Image(label="Music / effects / mix", type="filepath", interactive=False,
                                   elem_id="spectrogram", elem_classes="order-10")
            with gr.Column(elem_classes="order-11"):
                gr.Markdown(SCORES_HELP)
                with gr.Row():
                    plots = {s: gr.LinePlot(x="iteration", y="value", color="window", label=CURVES[s].title,
                                            show_label=True, x_title="SNIO iteration", y_title=CURVES[s].unit,
                                            min_width=220, visible=False, elem_id=f"plot-{s}")
                             for s in SCORES}
    return ScoreTab(session=session, video=video, controls=controls, ensemble=ensemble, generate=generate,
                    stop=stop, dice=dice, load=load, status=status, details=details, spectrogram=spectrogram,
                    audio=audio,
                    plots=plots, result=result, downloads=downloads)


def _frame_updates(tab: ScoreTab, frame) -> dict:
    """A live.Frame as updates of the Score tab's outputs."""
    import pandas as pd

    from soundtrack.studio.summary import CURVES

    out: dict = {tab.status: frame.status}
    if frame.tempo_bpm is not None:  # the tempo auto chose shows on the slider and beside the box
        label = f"auto: {frame.tempo_bpm:.0f} BPM" if frame.tempo_auto else AUTO_LABEL
        out[tab.controls["tempo_auto"]] = gr.update(label=label)
        if frame.tempo_auto:
            out[tab.controls["tempo"]] = round(frame.tempo_bpm * 2) / 2  # the slider's 0.5 BPM step
    if frame.kind not in ("preview", "progress", "take"):
        return out
    rows = pd.DataFrame(frame.scores, columns=["window", "iteration", "score", "value"])
    # Gradio's LinePlot takes its colours (one per window) from its first value only, so a window
    # that came later got no line (only "window 1" was drawn, issue 18): every window is in every
    # value, those not optimised yet as one empty (NaN) point.
    windows = [f"window {k + 1}" for k in range(frame.n_windows)]
    legend = windows if len(windows) <= 2 else [windows[0], windows[-1]]  # a plot has room for two
    for name, plot in tab.plots.items():
        part = rows[rows.score == name].assign(value=lambda d, f=CURVES[name].value: d.value.map(f))
        if not len(part):
            out[plot] = gr.update(visible=False)
            continue
        empty = [[w, 0, name, float("nan")] for w in windows if w not in set(part.window)]
        if empty:
            part = pd.concat([part, pd.DataFrame(empty, columns=part.columns)], ignore_index=True)
        out[plot] = gr.update(value=part, colors_in_legend=legend, visible=True)
    if frame.kind == "progress":  # no new preview: the last one stays (live.PREVIEWS)
        return out
    out[tab.spectrogram] = str(frame.spectrogram)
    if frame.kind == "preview":
        out[tab.audio] = frame.audio
        return out
    files = frame.take.files
    out[tab.details] = frame.details
    out[tab.audio] = str(files["mix.wav"])
    out[tab.result] = gr.update(value=str(files["soundtrack.mp4"]), visible=True)
    for name, button in tab.downloads.items():
        out[button] = gr.update(value=str(files[name]), visible=True)
    return out


def _wire_score_tab(tab: ScoreTab, studio: StudioState) -> None:
    from soundtrack.music.families import FAMILY_NAMES
    from soundtrack.studio import live
    from soundtrack.pipeline.settings import read_settings_json
    from soundtrack.studio.controls import (ENSEMBLES, LEVEL_ON, controls_from_settings, ensemble_of,
                                            family_controls, instruments_from_controls, level_name, on_name)

    inputs = {tab.session, tab.video, *tab.controls.values()}

    def wanter(warm: bool, *, only_if_started: bool):
        def want(data: dict):
            """Not queued: the page's newest settings become the session's job, the run in flight stops."""
            session = live_session(data[tab.session])
            if only_if_started and not session.started:  # a control moved before anything ran
                return {tab.status: gr.skip()}
            try:
                if not data[tab.video]:
                    raise InputError("pick an example or upload a video first")
                job = live.Job(Path(data[tab.video]), tab.settings(data), warm=warm)
            except InputError as e:
                session.stop(why=problem(str(e)))
                return {tab.status: session.stop_reason}
            quick = live.quick_remix(session, job)  # a balance move is heard now, its take written next
            session.request(job)
            return {tab.status: quick.status, tab.audio: quick.audio} if quick else {tab.status: gr.skip()}
        return want

    def follow(session, progress=gr.Progress()):
        """Queued: run the session's wanted job and every newer one asked for meanwhile (live.follow)."""
        session = live_session(session)
        yield {tab.status: gr.skip()}  # yielding nothing would blank every output (another call ran the job)
        try:
            for frame in live.follow(studio, session, on_progress=lambda p, desc: progress(p, desc=desc)):
                yield _frame_updates(tab, frame)
        except InputError as e:
            yield {tab.status: problem(str(e))}

    # always_last: a change while the handler runs asks for one more call after it, never drops it
    now = dict(queue=False, api_visibility="private", trigger_mode="always_last", show_progress="hidden")
    queued = dict(outputs=tab.outputs, concurrency_id=GENERATE, show_progress_on=[tab.result],
                  api_visibility="private", trigger_mode="always_last")

    def run_on(triggers: list, *, warm: bool = True) -> None:
        """These triggers ask for a take (warm: only once something ran) and start the queued handler."""
        gr.on(triggers, wanter(warm, only_if_started=warm), inputs, [tab.status, tab.audio], **now).then(
            follow, tab.session, **queued)

    def run_after(event) -> None:
        """A control's own first step (the BPM unticks "auto"), then as run_on."""
        event.then(wanter(True, only_if_started=True), inputs, [tab.status, tab.audio], **now).then(
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
    run_on(triggers)

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


# ------------------------------------------------------------------------------------ A/B tab
def _ab_tab(state: gr.State, score: ScoreTab, studio: StudioState) -> tuple:
    """Lay out and wire the A/B tab; returns (refresh handler, its outputs) for tab selection."""
    from soundtrack.studio import listening

    gr.Markdown("Blind comparison: two renderings of one video appear as **X** and **Y** in random order. "
                "Play both, vote, and the votes add up in the table below (win rate of A with its 95% "
                "Wilson interval). Your votes are kept under an anonymous id for this page.")
    warning = gr.Markdown(visible=False, elem_id="ab-warning")
    with gr.Row(equal_height=True):
        comparison = gr.Radio(listening.comparisons_available(studio), value=listening.TAKES, label="Compare",
                              scale=2, min_width=220)
        make = gr.Button("Make a pair from the current video", variant="primary", min_width=160,
                         elem_id="ab-make")
        nxt = gr.Button("Next pair to judge", min_width=140, elem_id="ab-next")
    ab_status = gr.Markdown(elem_id="ab-status")
    with gr.Row():
        x = gr.Video(label="X", interactive=False, min_width=260, elem_id="ab-x")
        y = gr.Video(label="Y", interactive=False, min_width=260, elem_id="ab-y")
    comment = gr.Textbox(label="Comment (optional)", lines=1, max_length=2000, elem_id="ab-comment")
    with gr.Row():
        votes = {choice: gr.Button(label, min_width=100, elem_id=f"ab-vote-{choice.lower()}")
                 for choice, label in (("X", "X is better"), ("Y", "Y is better"), ("none", "No preference"))}
    table = gr.Dataframe(headers=listening.RESULT_COLUMNS, label="Results", interactive=False, wrap=True,
                         elem_id="ab-results")
    csv = gr.DownloadButton("Download all votes (csv)", size="md", elem_id="ab-csv")

    def results(session) -> dict:
        store = studio.store()
        path = listening.export_csv(studio, live_session(session).dir / "ab")
        out = {table: listening.result_rows(studio), csv: str(path)}
        out[warning] = gr.update(value=f"⚠️ {store.recovered_from}", visible=bool(store.recovered_from))
        return out

    def show(session, pair, note: str) -> dict:
        session.pair_id = None if pair is None else pair.id
        if pair is None:
            return {x: None, y: None, ab_status: note}
        return {x: pair.x_media, y: pair.y_media, comment: "",
                ab_status: f"Pair {pair.id} ({pair.comparison}, {pair.video}): {note}"}

    @errors_to(ab_status)
    def make_pair(data: dict, progress=gr.Progress()):
        session = live_session(data[state])
        if data[comparison] == listening.TAKES:
            pair = listening.pair_from_takes(studio, session)
        else:
            if not data[score.video]:
                raise InputError("pick an example or upload a video on the Score tab first")
            pair = listening.pair_from_models(studio, Path(data[score.video]), score.settings(data),
                                              session.dir / "ab-render",
                                              on_progress=lambda p, d: progress(p, desc=d))
        return show(session, pair, "which soundtrack fits the video better?")

    @errors_to(ab_status)
    def next_pair(session) -> dict:
        pair = listening.next_pair(studio, live_session(session).id)
        return show(session, pair, "which soundtrack fits the video better?" if pair else
                    "No pair left to judge: make one from the current video.")

    def voter(choice: str):
        @errors_to(ab_status)
        def vote(session, text: str) -> dict:
            if live_session(session).pair_id is None:
                raise InputError("make a pair or load the next one before voting")
            store = studio.store()
            pair = store.pair(session.pair_id)
            store.vote(pair.id, choice, comment=text or "", voter=session.id)
            side = pair.side_of(choice)
            label = pair.a_label if side == "A" else pair.b_label
            said = "no preference" if side == "none" else f"{choice} = {label}"
            out = show(session, None, f"Vote saved on pair {pair.id}: {said} (X was the {pair.x_label}, "
                                      f"Y the {pair.y_label}).")
            return {**out, **results(session)}
        return vote

    ab_outputs = [x, y, comment, ab_status]
    make.click(make_pair, {state, comparison, score.video, *score.controls.values()}, ab_outputs,
               concurrency_id=GENERATE, show_progress_on=[ab_status], api_visibility="private")
    nxt.click(next_pair, state, ab_outputs, api_visibility="private")
    for choice, button in votes.items():
        button.click(voter(choice), [state, comment], [*ab_outputs, table, csv, warning],
                     api_visibility="private")
    return results, [table, csv, warning]


# ------------------------------------------------------------------------------ analysis tab
def _analyze(video: str | None):
    from soundtrack.studio.analysis import analyze_for_ui

    if not video:
        raise gr.Error("Upload a video first.")
    try:
        return analyze_for_ui(video)
    except InputError as err:
        raise gr.Error(str(err)) from None


def _analysis_tab(studio: StudioState) -> None:
    examples = [str(p) for p in sorted(ASSETS.glob("*.mp4"))]
    with gr.Row():
        with gr.Column(scale=1, min_width=300):
            video = gr.Video(label="Video", sources=["upload"], elem_id="analysis-video")
            run = gr.Button("Analyse", variant="primary", elem_id="analyse")
            if examples:
                gr.Examples(examples=examples, inputs=video)
        with gr.Column(scale=2, min_width=300):
            summary = gr.Markdown(elem_id="analysis-summary")
            plot = gr.Plot(label="Motion, brightness and visual onsets", elem_id="analysis-plot")
            table = gr.Dataframe(headers=["time (s)", "type", "x (0 left .. 1 right)", "strength"],
                                 label="Visual events", interactive=False, elem_id="events-table")
    show_playable(video, summary, studio, then="press Analyse")
    run.click(_analyze, inputs=video, outputs=[plot, table, summary], api_name="analyze")


def show_playable(video: gr.Video, status: gr.Markdown, studio: StudioState, *, then: str) -> None:
    """An upload a browser cannot play (AVI, MKV, ...) is replaced by its H.264 mp4 copy
    (soundtrack/studio/preview.py): shown, analysed and scored in its place."""
    from soundtrack.studio.preview import is_playable, playable_copy

    @errors_to(status)
    def upload(path: str | None):
        if not path:
            return
        name = Path(path).name
        if is_playable(path):
            yield {status: f"{name} is ready: {then}."}
            return
        yield {status: f"Making a copy of {name} that browsers play (H.264)..."}
        shown = playable_copy(path, cache=studio.takes_dir / "previews")
        yield {video: str(shown), status: f"{name} is shown, analysed and scored as {shown.name}, "
                                          f"a copy browsers play (H.264): {then}."}

    video.upload(upload, video, [video, status], concurrency_id="preview", api_visibility="private",
                 show_progress_on=[status])


# ------------------------------------------------------------------------------------- the page
def build_ui(studio: StudioState | None = None) -> gr.Blocks:
    """The studio's page; `studio` is what the process shares between sessions (default: a
    StudioState from the environment, as app.py makes it)."""
    from soundtrack.studio.api import endpoint, name_outputs
    from soundtrack.studio.live import Session

    studio = studio or StudioState()

    with gr.Blocks(title="soundtrack studio", delete_cache=(600, 900)) as demo:
        session = gr.State(None, delete_callback=_close_session)  # a live.Session, made on page load
        gr.Markdown(HEADER)
        with gr.Tabs():
            with gr.Tab("Score", id="score"):
                score = _score_tab(session)
            with gr.Tab("A/B listening", id="ab") as ab_tab:
                results, result_outputs = _ab_tab(session, score, studio)
            with gr.Tab("Video analysis", id="analysis"):
                _analysis_tab(studio)
        _wire_score_tab(score, studio)
        show_playable(score.video, score.status, studio, then="press Generate")
        ab_tab.select(results, session, result_outputs, api_visibility="private")
        name_outputs(gr.api(endpoint(studio), api_name="generate", concurrency_id=GENERATE), demo)
        demo.load(lambda: Session(studio.takes_dir), None, session, queue=False, api_visibility="private")
    return demo
