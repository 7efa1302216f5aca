"""The video-analysis tab: what the picture gives the model (analysis.py), laid out and wired."""
from __future__ import annotations

import gradio as gr

from soundtrack.errors import InputError
from soundtrack.studio.state import StudioState
from soundtrack.studio.widgets import ASSETS, show_playable


def _analyze(video: str | None):
    from soundtrack.studio.analysis import analyze_for_ui

    if not video:
        raise gr.Error("Upload a video first.")
    try:
        return analyze_for_ui(video)
    except InputError as err:
        raise gr.Error(str(err)) from None


def analysis_tab(studio: StudioState) -> None:
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


__all__ = ["analysis_tab"]
