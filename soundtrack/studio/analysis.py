"""The video-analysis view: what the picture gives the model, as a plot and a table."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from soundtrack.video.features import VisualFeatures, analyze_video

EVENT_COLOURS = {"cut": "#d62728", "flash": "#ff9f0e", "impact": "#1f77b4"}
PLURALS = {"cut": "cuts", "flash": "flashes", "impact": "impacts"}


def analysis_figure(vf: VisualFeatures):
    """Motion, brightness and the visual onset envelope on one time axis, events marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 1, figsize=(9, 5), sharex=True, constrained_layout=True)
    series = (("motion", vf.motion), ("brightness", vf.brightness), ("visual onsets", vf.onset))
    for ax, (name, values) in zip(axes, series):
        ax.plot(vf.times, values, lw=1.2, color="#333")
        ax.set_ylabel(name)
        for e in vf.events:
            ax.axvline(e.time, color=EVENT_COLOURS.get(e.type, "k"), lw=1, alpha=0.8)
    axes[-1].set_xlabel("time (s)")
    handles = [plt.Line2D([], [], color=c, label=t) for t, c in EVENT_COLOURS.items()]
    axes[0].legend(handles=handles, loc="upper right", fontsize=8, ncols=3)
    return fig


def analyze_for_ui(path: str | Path) -> tuple[object, list[list], str]:
    """(figure, event rows, summary line) for a video file; raises InputError on bad input."""
    vf = analyze_video(path)
    rows = [[round(e.time, 3), e.type, round(e.x, 3), round(e.strength, 3)] for e in vf.events]
    duration = float(vf.times[-1]) + (float(np.median(np.diff(vf.times))) if len(vf.times) > 1 else 0.0)
    counts = {t: sum(e.type == t for e in vf.events) for t in EVENT_COLOURS}
    summary = (f"{duration:.2f} s analysed at {len(vf.times)} frames; "
               + ", ".join(f"{n} {t if n == 1 else PLURALS[t]}" for t, n in counts.items())
               + f"; mean motion {float(np.mean(vf.motion)):.3f}, "
               f"mean brightness {float(np.mean(vf.brightness)):.2f}")
    return analysis_figure(vf), rows, summary
