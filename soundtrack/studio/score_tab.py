"""The Score tab's layout: the video, the controls, the take and its pictures (ScoreTab), and how a
live.Frame shows on it (frame_updates). The wiring is ui.py's."""
from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from soundtrack.studio.state import StudioState
from soundtrack.studio.widgets import ASSETS

EXAMPLE_LABELS = {"flashes-and-bounces.mp4": "Flashes and bounces (8 s)",
                  "night-hits.mp4": "Night hits (8 s)",
                  "bigbuckbunny.mp4": "Big Buck Bunny (5 s)", "bikes.mp4": "Bikes, with cuts (10 s)"}
# the score curves, in this order; an engine's take shows those its SNIO climbs (the score engine's notes
# are in time and in your families by construction: it has parts, note density and accents instead)
SCORES = ("tempo", "instruments", "presence", "density", "accents", "balance", "sync", "cvsm", "total")
SCORES_HELP = ("**Score curves**, one point per SNIO iteration and one line per window: the chance the beat "
               "is at your tempo (audio engine), how much the music agrees with your families (audio "
               "engine) or whether the parts you asked for play and no others (score engine), how closely "
               "the notes' density follows the picture's motion and how many more notes start on its "
               "events (score engine), how many dB the stems are off your balance before the mixer "
               "levels them, how well effect hits match the picture's events, how well sound and picture "
               "match (CVSM), and SNIO's objective, their weighted sum. The take's own measurements are "
               "in the table above.")
# A plot without curves is hidden but stays in the page: Gradio's LinePlot, removed from the page after
# it was drawn, threw from its ResizeObserver ("Cannot read properties of null") when an engine's take
# left out a curve the other engine's take had.
PLOT_OFF = "hidden"
AUTO_LABEL = "auto (from the picture)"  # the tempo box; after a run with auto: "auto: 125 BPM"
DOWNLOADS = {"soundtrack.mp4": "Video (mp4)", "mix.wav": "Mix (wav)", "music.wav": "Music stem (wav)",
             "sfx.wav": "Effects stem (wav)", "music.mid": "Notes (MIDI)", "settings.json": "Settings (json)"}
OPTIONAL = ("music.mid",)  # downloads only some takes have (the score engine's notes)


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
    engine: gr.Radio  # "score" or "neural" (those installed); not a setting of Settings
    parts: gr.Row  # re-orchestration, shown for a score-engine take: play [part] on [family] + button
    part: gr.Dropdown  # a family that plays in the last take
    player: gr.Dropdown  # the family to play it
    reorchestrate: gr.Button
    playhead: gr.Number  # hidden: the result video's position when a control moved (PLAYHEAD_JS)

    def settings(self, data: dict):
        """Settings from an event's {component: value} inputs."""
        from soundtrack.studio.controls import settings_from_controls

        return settings_from_controls({name: data[c] for name, c in self.controls.items()})

    @property
    def outputs(self) -> list:
        return [self.status, self.details, self.spectrogram, self.audio, self.result, *self.plots.values(),
                *self.downloads.values(), self.controls["tempo"], self.controls["tempo_auto"], self.parts,
                self.part]


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


def _engine_widget(studio: StudioState) -> gr.Radio:
    """The engine choice: the installed engines (config.ENGINES), the default one chosen; an engine whose
    model is missing is named in one line under it."""
    from soundtrack.config import ENGINES
    from soundtrack.studio.state import ENGINE_WORDS

    installed = studio.engines() or [studio.default_engine()]
    missing = [e for e in ENGINES if e not in installed]
    info = "; ".join(f"the {e} engine's model is not installed" for e in missing) or None
    return gr.Radio([(ENGINE_WORDS[e], e) for e in installed], value=studio.default_engine(), label="Engine",
                    info=info, elem_id="engine")


def _parts_row() -> tuple[gr.Row, gr.Dropdown, gr.Dropdown, gr.Button]:
    """Re-orchestration of a score-engine take: play [one of its families' parts] on [another family]."""
    from soundtrack.music.families import FAMILY_NAMES

    with gr.Row(visible=False, equal_height=True, elem_id="reorchestrate-row") as row:
        part = gr.Dropdown([], label="Play the part of", min_width=120, elem_id="reorchestrate-part")
        player = gr.Dropdown(list(FAMILY_NAMES), value="brass", label="on", min_width=120,
                             elem_id="reorchestrate-family")
        button = gr.Button("Re-orchestrate", size="md", min_width=120, elem_id="reorchestrate")
    return row, part, player, button


def score_tab(session: gr.State, studio: StudioState) -> ScoreTab:
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
                engine = _engine_widget(studio)
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
            with gr.Column(elem_classes="order-7"):
                with gr.Row():
                    downloads = {f: gr.DownloadButton(label, visible=False, size="md", min_width=120,
                                                      elem_id=f"download-{f.replace('.', '-')}")
                                 for f, label in DOWNLOADS.items()}
                parts, part, player, reorchestrate = _parts_row()
            details = gr.Markdown(elem_id="take-details", elem_classes="order-9")
            spectrogram = gr.Image(label="Music / effects / mix", type="filepath", interactive=False,
                                   elem_id="spectrogram", elem_classes="order-10")
            with gr.Column(elem_classes="order-11"):
                gr.Markdown(SCORES_HELP)
                with gr.Row():
                    plots = {s: gr.LinePlot(x="iteration", y="value", color="window", label=CURVES[s].title,
                                            show_label=True, x_title="SNIO iteration", y_title=CURVES[s].unit,
                                            min_width=220, visible=PLOT_OFF, elem_id=f"plot-{s}")
                             for s in SCORES}
    playhead = gr.Number(0.0, visible=False, elem_id="playhead")
    return ScoreTab(session=session, video=video, controls=controls, ensemble=ensemble, generate=generate,
                    stop=stop, dice=dice, load=load, status=status, details=details, spectrogram=spectrogram,
                    audio=audio, plots=plots, result=result, downloads=downloads, engine=engine, parts=parts,
                    part=part, player=player, reorchestrate=reorchestrate, playhead=playhead)


def frame_updates(tab: ScoreTab, frame) -> dict:
    """A live.Frame as updates of the Score tab's outputs."""
    import pandas as pd

    from soundtrack.studio.summary import CURVES

    out: dict = {tab.status: frame.status}
    if frame.tempo_bpm is not None:  # the tempo auto chose shows on the slider and beside the box
        label = f"auto: {frame.tempo_bpm:.0f} BPM" if frame.tempo_auto else AUTO_LABEL
        out[tab.controls["tempo_auto"]] = gr.update(label=label)
        if frame.tempo_auto:
            out[tab.controls["tempo"]] = round(frame.tempo_bpm * 2) / 2  # the slider's 0.5 BPM step
    if frame.kind == "sketch":  # the last take's notes under the new controls (retake.quick_sketch)
        out[tab.audio] = frame.audio
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
            out[plot] = gr.update(visible=PLOT_OFF)
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
    for name, button in tab.downloads.items():  # music.mid: a score-engine take's notes only
        out[button] = (gr.update(value=str(files[name]), visible=True) if name in files
                       else gr.update(value=None, visible=False))
    families = (frame.take.report.get("score") or {}).get("families", [])
    out[tab.parts] = gr.update(visible=bool(families))  # re-orchestration: a take with notes
    out[tab.part] = gr.update(choices=families, value=families[0] if families else None)
    return out


__all__ = ["AUTO_LABEL", "DOWNLOADS", "EXAMPLE_LABELS", "SCORES", "ScoreTab", "frame_updates", "score_tab"]
