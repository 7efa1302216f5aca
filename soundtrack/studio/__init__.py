"""The Gradio studio. `build_ui()` returns the Blocks; `app.py` only launches it."""
from soundtrack.studio.ui import build_ui

__all__ = ["build_ui"]
