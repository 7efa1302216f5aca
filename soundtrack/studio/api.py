"""The studio's `/generate` endpoint: a video and the CLI's options in, the finished take out.

    from gradio_client import Client, handle_file
    client = Client("http://127.0.0.1:7860/")
    mp4, mix, music, sfx, report = client.predict(handle_file("clip.mp4"), tempo=120,
                                                  instruments="piano,strings:0.5", seed=3,
                                                  api_name="/generate")

Parameters are named like `python -m soundtrack generate`'s options and default to the same
values, but `engine`, which defaults to config.DEFAULT_ENGINE when its model is installed,
else to the installed engine (StudioState.default_engine). They arrive exactly as the caller
sent them (typed JSON, no coercion by Gradio), and
:class:`~soundtrack.pipeline.Settings` validates them: a wrong type or value comes back as
a one-line error (gradio_client raises AppError with it), never a traceback.

(No `from __future__ import annotations` here: gr.api reads the return annotation as is.)
"""
import dataclasses
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any, Union

import gradio as gr
from gradio import FileData

from soundtrack.errors import InputError
from soundtrack.pipeline import DEFAULT_INSTRUMENTS, Settings, instruments_text
from soundtrack.studio.controls import settings_from_api
from soundtrack.studio.state import StudioState

_D = Settings()
OUTPUTS = ("video_mp4", "mix_wav", "music_wav", "sfx_wav", "report")  # /generate's outputs, in order


def video_path(video: Any) -> Path:
    """The server path of an uploaded file; anything else is refused.

    Gradio checks that a FileData (a dict whose meta names gradio.FileData) points at an
    upload; a bare string or dict is not checked, so it is not accepted as a path.
    """
    if video is None:
        raise InputError("video: upload a video file (gradio_client.handle_file(path))")
    meta = video.get("meta") if isinstance(video, dict) else None
    if not isinstance(meta, dict) or meta.get("_type") != "gradio.FileData" or not video.get("path"):
        raise InputError("video must be an uploaded file: pass gradio_client.handle_file(path)")
    return Path(video["path"])


def endpoint(state: StudioState):
    """The `/generate` API endpoint of a studio (gr.api reads its signature and docstring)."""

    def generate(video: FileData,
                 tempo: Union[float, str] = "auto",
                 instruments: str = instruments_text(DEFAULT_INSTRUMENTS),
                 balance: float = _D.balance,
                 intensity: float = _D.intensity,
                 key: str = "C",
                 mode: str = _D.mode,
                 seed: int = _D.seed,
                 steps: int = _D.steps,
                 snio_iters: int = _D.snio_iters,
                 guidance: float = _D.guidance,
                 engine: str = state.default_engine(),
                 ) -> tuple[FileData, FileData, FileData, FileData, dict]:
        """Generate music and sound effects for a video.

        tempo: BPM 60-180 or "auto"; instruments: "piano,strings:0.5" (a family alone weighs 1);
        balance: 0 music only, 0.5 equal loudness, 1 effects only; intensity 0.6-1; key C..B;
        mode major/minor; seed; steps (sampler steps, 1-200); snio_iters (noise optimisation
        iterations, 0-50); guidance 1-15; engine "score" (notes played by sampled instruments;
        the report says who plays them) or "neural" (audio written by the model). Returns
        video_mp4 (the video with its new soundtrack), mix_wav, music_wav and sfx_wav (48 kHz
        stereo WAV) and report (report.json of the CLI: settings, scores, tempo, loudness,
        timings; models named "folder@hash").
        """
        from soundtrack.output import write_take

        try:
            # 1. Check everything before any model loads
            settings = settings_from_api(tempo=tempo, instruments=instruments, balance=balance,
                                         intensity=intensity, key=key, mode=mode, seed=seed, steps=steps,
                                         snio_iters=snio_iters, guidance=guidance)
            path = video_path(video)
            variant = state.variant_of(engine)
            # 2. Generate (cold start from the seed: the same arguments give the same take)
            take = state.pipeline(variant)(path, settings)
            take = dataclasses.replace(take, report=state.public_report(take.report, variant))  # named models
            files = write_take(take, _fresh_dir(state.takes_dir / "api"), video=path)
        except InputError as e:
            raise gr.Error(str(e), print_exception=False) from None
        # no {"path": ...} inside the report: gradio_client would fetch it
        report = json.loads(files["report.json"].read_text())
        return (FileData(path=str(files["soundtrack.mp4"])), FileData(path=str(files["mix.wav"])),
                FileData(path=str(files["music.wav"])), FileData(path=str(files["sfx.wav"])), report)

    return generate


def name_outputs(dependency, blocks) -> None:
    """Name the endpoint's outputs in the API page and `view_api` (gr.api calls them "1st".."5th").

    Call inside the Blocks context, right after gr.api: the labels go into the page's config
    when the context closes."""
    fn = blocks.fns[dependency["id"]]
    assert len(fn.outputs) == len(OUTPUTS), f"{len(fn.outputs)=}"
    for component, name in zip(fn.outputs, OUTPUTS):
        component.label = name


def _fresh_dir(root: Path, keep: int = 8) -> Path:
    """A new folder under root; only the newest `keep` folders stay (Gradio has copied the rest)."""
    root.mkdir(parents=True, exist_ok=True)
    old = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    for p in old[:max(0, len(old) - keep + 1)]:
        shutil.rmtree(p, ignore_errors=True)
    return Path(tempfile.mkdtemp(dir=root))


__all__ = ["OUTPUTS", "endpoint", "name_outputs", "video_path"]
