"""The Gradio studio. `build_ui(StudioState())` returns the Blocks; `app.py` only launches it.

Importing the package is light: `StudioState`, `build_ui` and `launch_options` (and with them
torch and Gradio) load on first use, so `import soundtrack.studio.ab` works without Gradio.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from soundtrack.studio.state import StudioState
    from soundtrack.studio.ui import build_ui, launch_options, limit_malloc_arenas

__all__ = ["StudioState", "build_ui", "launch_options", "limit_malloc_arenas"]


def __getattr__(name: str):
    if name == "StudioState":
        from soundtrack.studio.state import StudioState

        return StudioState
    if name in __all__:
        from soundtrack.studio import ui

        return getattr(ui, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
