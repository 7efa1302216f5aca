"""Procedural video scenes whose visual events are known, planned from the music.

How the picture relates to the music (docs/DATA.md has the table):
- tempo: a pulse ring throbs on every beat (harder on downbeats); cuts fall on downbeats
  (a cut changes the background hue and mirrors the shot, as a reverse angle would);
  balls bounce at intervals of 1-2.5 beats, so the visual pace scales with tempo;
- mode: major scenes are bright, minor scenes dark;
- key: the background hue walks the circle of fifths (hue = (7*key mod 12)/12);
- instrumentation: one avatar per family (its colour and shape from families.py) along
  the bottom, lighting up on that family's note onsets;
- intensity: colour saturation.
Effects events (impacts, whooshes, flashes, cuts) are placed on the frame grid, so the
sound of an event starts exactly on the frame that shows it.
"""
from __future__ import annotations

import colorsys
from dataclasses import dataclass, field

import numpy as np

from soundtrack.corpus.compose import Piece
from soundtrack.music.families import family

MIN_EVENT_GAP_S = 0.3  # effects closer than this would merge into one onset


@dataclass(frozen=True)
class Event:
    time: float  # seconds, on the frame grid
    type: str  # "impact" | "whoosh" | "flash" | "cut"
    x: float  # horizontal position 0..1 where it happens (for panning)
    source: int = -1  # ball index for impacts, -1 otherwise

    def as_label(self) -> dict:
        return {"time": round(self.time, 4), "type": self.type, "x": round(self.x, 4)}


@dataclass
class Ball:
    radius: float  # fraction of frame size
    colour: tuple[int, int, int]
    bounces: list[tuple[float, float]] = field(default_factory=list)  # (time, x) floor hits

    def position(self, t: float, *, floor: float, duration: float) -> tuple[float, float]:
        """(x, y) at time t: linear in x, a parabolic hop in y between floor hits.

        Before the first hit the ball falls into it, after the last one it flies off in an
        arc that cannot land inside the clip: the floor is touched only at labelled hits.
        """
        times = [b[0] for b in self.bounces]
        xs = [b[1] for b in self.bounces]
        i = int(np.searchsorted(times, t))
        if 0 < i < len(times):
            t0, t1, x0, x1 = times[i - 1], times[i], xs[i - 1], xs[i]
            s = (t - t0) / (t1 - t0)
            return x0 + (x1 - x0) * s, floor - _hop(t1 - t0) * 4 * s * (1 - s)
        first = i == 0
        t_hit, x_hit = (times[0], xs[0]) if first else (times[-1], xs[-1])
        gap = max(1.0, (t_hit + 0.5) if first else (duration - t_hit + 0.5))
        s = 1 - (t_hit - t) / gap if first else (t - t_hit) / gap  # in (0, 1) inside the clip
        drift = 0.08 * (t - t_hit)
        x = float(np.clip(x_hit + drift, 0.05, 0.95))
        return x, floor - _hop(gap) * 4 * s * (1 - s)


def _screen_x(x: float, t: float, events: list[Event]) -> float:
    """Where world position x appears at time t: shots after an odd number of cuts are mirrored."""
    cuts = sum(1 for e in events if e.type == "cut" and e.time <= t + 1e-9)
    return 1.0 - x if cuts % 2 else x


def _hop(gap: float) -> float:
    """Hop height (fraction of frame) for a gap between hits: ballistic, h ~ gap^2."""
    return float(np.clip(0.5 * gap * gap, 0.08, 0.6))


@dataclass
class Scene:
    size: int
    fps: int
    n_frames: int
    piece: Piece
    events: list[Event]
    balls: list[Ball]
    palette: list[tuple[float, np.ndarray]]  # (start time, background RGB float 0..1) per shot
    ring_xy: list[tuple[float, float]]  # ring centre per shot
    whoosh_y: dict[float, float]  # event time -> y of the streak
    whoosh_dir: dict[float, int]  # event time -> +1 (left to right) or -1


def plan_scene(piece: Piece, rng: np.random.Generator, *, size: int, fps: int) -> Scene:
    """Choose the shots, balls and events of a clip that fits the piece."""
    n_frames = int(round(piece.duration * fps))
    snap = lambda t: round(t * fps) / fps  # noqa: E731 - events live on the frame grid
    events: list[Event] = []

    def free(t: float) -> bool:
        return 0.2 <= t <= piece.duration - 0.3 and all(abs(t - e.time) >= MIN_EVENT_GAP_S for e in events)

    # cuts on downbeats, every 1, 2 or 4 bars so that shots last about 2-5 s
    bar_s = 4 * piece.beat_period
    every = int(rng.choice([k for k in (1, 2, 4) if 1.8 <= k * bar_s <= 6.0] or [1]))
    downbeats = piece.downbeat_times()
    offset = int(rng.integers(every))
    for t in downbeats[offset::every]:
        if free(snap(t)) and t > 0.5:
            events.append(Event(snap(t), "cut", 0.5))
    # flashes and whooshes: a few, anywhere
    for kind, count in (("flash", int(rng.integers(0, 3))), ("whoosh", int(rng.integers(0, 3)))):
        for _ in range(count):
            t = snap(rng.uniform(0.3, piece.duration - 0.5))
            if free(t):
                x = 0.5 if kind == "flash" else float(rng.choice((0.05, 0.95)))
                events.append(Event(t, kind, x))
    # balls: floor hits every 1-2.5 beats (pace follows tempo)
    balls: list[Ball] = []
    for b in range(int(rng.integers(1, 4))):
        hue = rng.uniform(0, 1)
        ball = Ball(radius=float(rng.uniform(0.04, 0.07)),
                    colour=tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.7, 1.0)))
        t = float(rng.uniform(0.2, 2.0 * piece.beat_period))
        while t < piece.duration - 0.3:
            ts = snap(t)
            if free(ts):
                x = float(rng.uniform(0.1, 0.9))
                ball.bounces.append((ts, x))
                events.append(Event(ts, "impact", _screen_x(x, ts, events), source=b))
            t += piece.beat_period * float(rng.uniform(1.0, 2.5))
        if ball.bounces:
            balls.append(ball)
    events.sort(key=lambda e: e.time)
    # shots: background hue from the key (circle of fifths), brightness from the mode
    base_hue = ((7 * piece.key) % 12) / 12
    value = rng.uniform(0.6, 0.9) if piece.mode == "major" else rng.uniform(0.12, 0.35)
    sat = 0.25 + 0.6 * (piece.intensity - 0.6) / 0.4
    cut_times = [0.0] + [e.time for e in events if e.type == "cut"]
    palette, ring_xy = [], []
    for i, t in enumerate(cut_times):
        hue = (base_hue + (0 if i == 0 else rng.choice((-1, 1)) * rng.uniform(0.15, 0.35))) % 1
        rgb = np.array(colorsys.hsv_to_rgb(hue, sat, value), np.float32)
        palette.append((t, rgb))
        ring_xy.append((float(rng.uniform(0.25, 0.75)), float(rng.uniform(0.2, 0.4))))
    whoosh_y = {e.time: float(rng.uniform(0.15, 0.5)) for e in events if e.type == "whoosh"}
    whoosh_dir = {e.time: (1 if e.x < 0.5 else -1) for e in events if e.type == "whoosh"}
    return Scene(size, fps, n_frames, piece, events, balls, palette, ring_xy, whoosh_y, whoosh_dir)


def render_frames(scene: Scene):
    """Yield the clip's frames, uint8 `(size, size, 3)` RGB, one per 1/fps."""
    s = scene.size
    yy, xx = np.mgrid[0:s, 0:s].astype(np.float32) / s  # (s, s) each, 0..1
    floor = 0.78
    beats = scene.piece.beat_times(start=-4 * scene.piece.beat_period)
    downbeats = set(np.round(scene.piece.downbeat_times(start=-8.0), 6))
    avatars = _avatars(scene)
    shot_starts = [p[0] for p in scene.palette]
    backgrounds = [(_background(rgb, yy) * 255) for _, rgb in scene.palette]
    flashes = [e.time for e in scene.events if e.type == "flash"]
    whooshes = [e.time for e in scene.events if e.type == "whoosh"]
    for k in range(scene.n_frames):
        t = k / scene.fps
        shot = int(np.searchsorted(shot_starts, t + 1e-6)) - 1
        img = backgrounds[shot].copy()  # (s, s, 3) float
        img[int(floor * s):, :] *= 0.55  # the floor band, where balls land
        # pulse ring: radius and brightness jump on every beat, decay within the beat
        past = beats[beats <= t + 1e-9]
        if len(past):
            phase = (t - past[-1]) / scene.piece.beat_period
            strength = 1.0 if round(float(past[-1]), 6) in downbeats else 0.6
            env = strength * np.exp(-4.0 * phase)
            cx, cy = scene.ring_xy[shot]
            radius = 0.08 + 0.05 * env
            _ring(img, xx, yy, cx, cy, radius, 0.015, np.array([255, 255, 255]) * (0.3 + 0.7 * env))
        for ball in scene.balls:
            bx, by = ball.position(t, floor=floor, duration=scene.piece.duration)
            bx = 1.0 - bx if shot % 2 else bx  # every other shot is seen from the other side
            _disc(img, xx, yy, bx, by - ball.radius, ball.radius, np.array(ball.colour, np.float32))
        for tw in whooshes:
            if 0 <= t - tw < 0.4:  # a streak crossing the frame in 0.4 s
                d = scene.whoosh_dir[tw]
                prog = (t - tw) / 0.4
                x = prog if d > 0 else 1 - prog
                _streak(img, xx, yy, x, scene.whoosh_y[tw])
        for name, (ax, ay), colour, shape, env in avatars:
            level = 0.3 + 0.7 * float(env[k])
            _shape(img, xx, yy, shape, ax, ay, 0.045, np.array(colour, np.float32) * level)
        for tf in flashes:
            if 0 <= t - tf < 0.3:
                w = np.exp(-(t - tf) / 0.06)
                img = img * (1 - w) + 255.0 * w
        yield np.clip(img, 0, 255).astype(np.uint8)


def _background(rgb: np.ndarray, yy: np.ndarray) -> np.ndarray:
    """A vertical gradient of the shot colour, `(s, s, 3)` float 0..1."""
    return rgb[None, None, :] * (0.75 + 0.35 * yy[..., None])


def _avatars(scene: Scene):
    """(family, position, colour, shape, per-frame envelope) for each instrument family."""
    fams = scene.piece.instruments
    times = np.arange(scene.n_frames) / scene.fps
    out = []
    for i, name in enumerate(fams):
        fam = family(name)
        onsets = np.array(sorted({round(n.start, 4) for n in scene.piece.notes_of(name)}))
        env = np.zeros(scene.n_frames, np.float32)
        for on in onsets[(onsets > -1.0) & (onsets < scene.piece.duration)]:
            dt = times - on
            env = np.maximum(env, np.where(dt >= 0, np.exp(-dt / 0.12), 0.0))
        x = (i + 1) / (len(fams) + 1)
        out.append((name, (x, 0.91), fam.colour, fam.shape, env))
    return out


def _box(xx: np.ndarray, cx: float, cy: float, r: float) -> tuple[slice, slice]:
    s = xx.shape[0]
    return (slice(max(0, int((cy - r) * s) - 1), min(s, int((cy + r) * s) + 2)),
            slice(max(0, int((cx - r) * s) - 1), min(s, int((cx + r) * s) + 2)))


def _disc(img, xx, yy, cx, cy, r, colour) -> None:
    sl = _box(xx, cx, cy, r)
    d2 = (xx[sl] - cx) ** 2 + (yy[sl] - cy) ** 2
    alpha = np.clip((r - np.sqrt(d2)) * xx.shape[0] + 0.5, 0, 1)[..., None]  # anti-aliased edge
    img[sl] = img[sl] * (1 - alpha) + colour * alpha


def _ring(img, xx, yy, cx, cy, r, width, colour) -> None:
    sl = _box(xx, cx, cy, r + width)
    d = np.sqrt((xx[sl] - cx) ** 2 + (yy[sl] - cy) ** 2)
    alpha = np.clip((width - np.abs(d - r)) * xx.shape[0], 0, 1)[..., None]
    img[sl] = img[sl] * (1 - alpha) + colour * alpha


def _streak(img, xx, yy, cx, cy) -> None:
    """A motion-blurred ellipse, 0.25 wide and 0.04 tall."""
    sl = _box(xx, cx, cy, 0.14)
    q = ((xx[sl] - cx) / 0.125) ** 2 + ((yy[sl] - cy) / 0.02) ** 2
    alpha = np.clip(1.0 - q, 0, 1)[..., None]
    img[sl] = img[sl] * (1 - alpha) + 235.0 * alpha


def _shape(img, xx, yy, shape, cx, cy, r, colour) -> None:
    sl = _box(xx, cx, cy, r)
    dx, dy = np.abs(xx[sl] - cx), np.abs(yy[sl] - cy)
    inside = {
        "disc": dx ** 2 + dy ** 2 <= r * r,
        "square": (dx <= r * 0.8) & (dy <= r * 0.8),
        "diamond": dx + dy <= r,
        "bar": (dx <= r * 0.35) & (dy <= r),
    }[shape]
    img[sl][inside] = colour
