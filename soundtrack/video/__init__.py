"""Video: decode at a fixed analysis rate and size, visual features and events, muxing.

- :mod:`.decode`: ``probe``, ``iter_frames``, ``read_frames`` (PyAV, downscaled while decoding)
- :mod:`.features`: ``analyze``, ``analyze_video`` (motion, colour, cuts, flashes, impacts)
- :mod:`.mux`: ``mux`` (a WAV into the original video with the ffmpeg of imageio-ffmpeg)
"""
from __future__ import annotations

from soundtrack.video.decode import Frames, VideoInfo, iter_frames, probe, read_frames
from soundtrack.video.features import EventParams, VisualEvent, VisualFeatures, analyze, analyze_video
from soundtrack.video.mux import mux

__all__ = [
    "EventParams",
    "Frames",
    "VideoInfo",
    "VisualEvent",
    "VisualFeatures",
    "analyze",
    "analyze_video",
    "iter_frames",
    "mux",
    "probe",
    "read_frames",
]
