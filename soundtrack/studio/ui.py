"""Gradio layout. Nothing heavy happens at import or build time; work runs in handlers."""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from soundtrack.errors import InputError

ASSETS = Path(__file__).resolve().parents[2] / "assets"


def _analyze(video: str | None):
    from soundtrack.studio.analysis import analyze_for_ui

    if not video:
        raise gr.Error("Upload a video first.")
    try:
        return analyze_for_ui(video)
    except InputError as err:
        raise gr.Error(str(err)) from None


def build_ui() -> gr.Blocks:
    examples = [str(p) for p in sorted(ASSETS.glob("*.mp4"))]
    with gr.Blocks(title="soundtrack studio") as demo:
        gr.Markdown("# soundtrack studio\nMusic and sound effects for your video, made together. "
                    "The generator is being trained; today this page shows what the model will see "
                    "in your video: motion, cuts, flashes and impacts.")
        with gr.Tab("Video analysis"):
            with gr.Row():
                with gr.Column(scale=1):
                    video = gr.Video(label="Video", sources=["upload"])
                    run = gr.Button("Analyse", variant="primary")
                    if examples:
                        gr.Examples(examples=examples, inputs=video)
                with gr.Column(scale=2):
                    summary = gr.Markdown()
                    plot = gr.Plot(label="Motion, brightness and visual onsets")
                    table = gr.Dataframe(headers=["time (s)", "type", "x (0 left .. 1 right)", "strength"],
                                         label="Visual events", interactive=False)
        run.click(_analyze, inputs=video, outputs=[plot, table, summary], api_name="analyze")
    return demo
