"""What the studio's tabs share: the examples' folder, the generation queue, one-line problems on a
status line, the page's session, and playable copies of uploads. Gradio only; no models.
"""
from __future__ import annotations

import functools
import inspect
from pathlib import Path

import gradio as gr

from soundtrack.errors import InputError
from soundtrack.studio.state import StudioState

ASSETS = Path(__file__).resolve().parents[2] / "assets"
GENERATE = "generate"  # the concurrency group of every event that generates


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


__all__ = ["ASSETS", "GENERATE", "errors_to", "live_session", "problem", "show_playable"]
