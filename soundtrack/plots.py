"""Pictures of a take: the spectrogram written with it, and the studio's fast live preview."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from soundtrack.config import AUDIO, TIMING
from soundtrack.music.score import Score
from soundtrack.video.features import VisualEvent

EVENT_COLOURS = {"cut": "#e8e8e8", "flash": "#ffd84a", "impact": "#ff5a4a"}
BEAT_COLOUR, GRID_COLOUR, MEL_CMAP = "#7fd7ff", "#9dff8a", "magma"  # measured beats, requested grid, mels
MEL_FLOOR, MEL_CEIL = -11.5, -4.0  # colour scale of the log-mel pictures: black at the floor, top at least -4
PREVIEW_WIDTH, PREVIEW_PANEL = 800, 96  # live preview: pixels across, and per panel


def spectrogram_png(path: Path, *, music16: np.ndarray, sfx16: np.ndarray, mix16: np.ndarray,
                    events: list[VisualEvent], beats: np.ndarray, grid_beats: np.ndarray | None = None,
                    title: str = "", score: Score | None = None) -> None:
    """Three log-mel panels (music / effects / mix) on one time axis, with the video's events
    (coloured lines by type), the beats measured on the music (ticks along the top of each
    panel) and the requested grid the music was conditioned on (ticks along the bottom); with
    a `score` (the score engine), a piano roll of its notes under them (:func:`piano_roll`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from soundtrack.audio.mel import log_mel

    duration = len(music16) / AUDIO.sample_rate
    rows = 3 if score is None else 4
    fig, axes = plt.subplots(rows, 1, figsize=(12, 2.13 * rows), sharex=True, constrained_layout=True)
    if score is not None:
        piano_roll(axes[3], score, events=events)
    for ax, (name, wave) in zip(axes[:3], (("music", music16), ("effects", sfx16), ("mix", mix16))):
        mel = log_mel(np.asarray(wave, np.float32))[0].numpy()  # (64, F)
        ax.imshow(mel, origin="lower", aspect="auto", cmap=MEL_CMAP, vmin=MEL_FLOOR,
                  vmax=max(MEL_CEIL, mel.max()),
                  extent=(0.0, duration, 0, mel.shape[0]), interpolation="nearest")
        ax.set_ylabel(f"{name}\nmel bin")
        for e in events:
            ax.axvline(e.time, color=EVENT_COLOURS.get(e.type, "white"), lw=1.0, alpha=0.8)
        ax.plot(beats, np.full(len(beats), mel.shape[0] - 2), "v", color=BEAT_COLOUR, ms=4, ls="none")
        if grid_beats is not None:
            ax.plot(grid_beats, np.full(len(grid_beats), 1.5), "^", color=GRID_COLOUR, ms=4, ls="none")
    axes[-1].set_xlabel("time (s)   lines: cut (grey), flash (yellow), impact (red); "
                        "triangles: measured beats (top, blue), requested grid (bottom, green)")
    if title:
        axes[0].set_title(title)
    fig.savefig(path, dpi=80)
    plt.close(fig)


def piano_roll(ax, score: Score, *, events: list[VisualEvent] = ()) -> None:
    """The score's notes on a matplotlib axis: one bar per note at its MIDI pitch, coloured by
    family (its avatar colour), drums as ticks in a band below the pitched notes; the video's
    events as lines, the grid's bars as faint lines."""
    from soundtrack.music.families import family

    drum_row = 20  # the kit is drawn below the lowest bass note
    for part in score.parts:
        colour = np.array(family(part.family).colour) / 255.0
        for n in part.notes:
            y = drum_row - 8 + (n.pitch % 16) / 2 if part.is_drums else n.pitch
            ax.add_patch(_bar(n.start, y - 0.4, n.end - n.start, 0.8, colour))
        ax.plot([], [], color=colour, lw=4, label=part.family)
    for e in events:
        ax.axvline(e.time, color=EVENT_COLOURS.get(e.type, "grey"), lw=1.0, alpha=0.6)
    for t in score.grid.beats_between(0.0, score.duration)[::4]:
        ax.axvline(t, color="#888888", lw=0.4, alpha=0.5)
    ax.set_facecolor("#16161c")
    ax.set_ylim(drum_row - 10, 100)
    ax.set_xlim(0.0, score.duration)
    ax.set_ylabel("notes\nMIDI pitch")
    ax.legend(loc="upper right", fontsize=7, ncol=min(5, len(score.parts)) or 1, framealpha=0.6)


def _bar(x: float, y: float, w: float, h: float, colour):
    from matplotlib.patches import Rectangle

    return Rectangle((x, y), w, h, facecolor=colour, edgecolor="none")


def preview_png(path: Path, *, music_mel: np.ndarray, sfx_mel: np.ndarray, duration_s: float,
                events: list[VisualEvent], grid_beats: np.ndarray | None = None,
                score: Score | None = None) -> None:
    """The studio's live preview: music / effects / mix log-mels (64, F) at 100 frames/s as
    three stacked panels drawn straight from the mels, with the video's events as coloured
    lines and the requested grid as ticks along the bottom of the music panel.

    The same colours as :func:`spectrogram_png` without its axes and labels (the status line
    says what the preview is), in about 15 ms instead of a matplotlib figure's 0.2 s: a
    preview comes with every SNIO iteration. The mix panel is the power sum of the
    two stems' mels. Only the first ``duration_s`` seconds are drawn. With a `score` (the score
    engine's notes of the window, in its time), a fourth panel: its notes as bars, as
    :func:`piano_roll` draws them (pitch up, drums in a band at the bottom, family colours).
    """
    from matplotlib import colormaps
    from PIL import Image

    from matplotlib.colors import to_rgb

    lut = (colormaps[MEL_CMAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.uint8)  # (256, 3)

    def rgb(colour: str) -> tuple[int, ...]:
        return tuple(round(255 * c) for c in to_rgb(colour))

    n = max(1, min(music_mel.shape[-1], int(round(duration_s * TIMING.mel_fps))))
    music, sfx = np.asarray(music_mel, np.float32)[:, :n], np.asarray(sfx_mel, np.float32)[:, :n]
    mix = 0.5 * np.logaddexp(2.0 * music, 2.0 * sfx)  # (64, n) log-magnitude of the summed power
    W, H, gap = PREVIEW_WIDTH, PREVIEW_PANEL, 3
    panels = 3 if score is None else 4
    canvas = np.full((panels * H + (panels - 1) * gap, W, 3), 24, np.uint8)

    def xs(t: object) -> np.ndarray:  # seconds -> pixel columns
        return np.clip(np.round(np.asarray(t, float) / max(duration_s, 1e-9) * (W - 1)).astype(int), 0, W - 1)

    for k, mel in enumerate((music, sfx, mix)):
        v = (mel[::-1] - MEL_FLOOR) / (max(MEL_CEIL, float(mel.max())) - MEL_FLOOR)  # low bins at the bottom
        img = lut[(np.clip(v, 0.0, 1.0) * 255).astype(np.uint8)]  # (64, n, 3)
        panel = np.asarray(Image.fromarray(img).resize((W, H), Image.NEAREST))
        top = k * (H + gap)
        canvas[top:top + H] = panel
        for e in events:
            canvas[top:top + H, xs(e.time)] = rgb(EVENT_COLOURS.get(e.type, "white"))
        if k == 0 and grid_beats is not None and len(grid_beats):
            for x in xs(grid_beats):
                canvas[top + H - 6:top + H, max(0, x - 1):x + 2] = rgb(GRID_COLOUR)
    if score is not None:
        _preview_notes(canvas[3 * (H + gap):], score, xs)
    Image.fromarray(canvas).save(path, compress_level=1)


def _preview_notes(panel: np.ndarray, score: Score, xs) -> None:
    """A score's notes drawn into a (H, W, 3) panel: MIDI pitches 20-100 bottom to top (the drums
    below 20, as piano_roll draws them), one 2-pixel bar per note in its family's colour."""
    from soundtrack.music.families import family

    H = panel.shape[0]
    low, high = 10.0, 100.0  # the pitch range piano_roll shows, drums included

    def row(y: float) -> int:
        return int(np.clip(round((high - y) / (high - low) * (H - 3)), 0, H - 3))

    for part in score.parts:
        colour = np.asarray(family(part.family).colour, np.uint8)
        for n in part.notes:
            y = 12 + (n.pitch % 16) / 2 if part.is_drums else n.pitch  # the kit's band: drum_row - 8 ..
            x0, x1 = xs(n.start), xs(n.end)
            panel[row(y):row(y) + 2, x0:max(x1, x0 + 1) + 1] = colour


__all__ = ["EVENT_COLOURS", "preview_png", "spectrogram_png"]
