"""Synthetic test videos with known content and events, written with PyAV.

Scenes are functions of time (seconds) so one scene can be rendered at any frame rate and
the events stay at the same instants. Everything is small (<= 128 x 96, <= 4 s) to keep
the suite fast on two shared cores.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

Scene = Callable[[float], np.ndarray]  # t (s) -> (H, W, 3) uint8

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "assets"


def write_video(
    path: Path,
    frames: np.ndarray | Sequence[np.ndarray],
    *,
    fps: float = 25,
    codec: str = "libx264",
    pix_fmt: str = "yuv420p",
    options: dict[str, str] | None = None,
    rotation: int = 0,
    audio_s: float | None = None,
    times_s: Sequence[float] | None = None,
) -> Path:
    """Encode (N, H, W, 3) uint8 RGB frames; `times_s` gives variable-rate timestamps.

    `audio_s` adds a 48 kHz stereo tone track of that length (AAC; Opus in WebM).
    `rotation` writes a display matrix (counter-clockwise degrees, as VideoFrame.rotation
    reads it back).
    """
    h, w = frames[0].shape[:2]
    opts = {"preset": "ultrafast", "crf": "12"} if codec == "libx264" else {}
    opts.update(options or {})
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=rate, options=opts)
        stream.width, stream.height, stream.pix_fmt = w, h, pix_fmt
        if times_s is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            stream.set_display_rotation(rotation)
        audio_codec = "libopus" if path.suffix == ".webm" else "aac"
        audio = container.add_stream(audio_codec, rate=48_000, layout="stereo") if audio_s else None
        for i, image in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            if times_s is not None:
                frame.pts, frame.time_base = round(times_s[i] * 1000), Fraction(1, 1000)
            else:
                frame.pts, frame.time_base = i, 1 / rate
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio is not None:
            n = round(audio_s * 48_000)
            tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(n) / 48_000)).astype(np.float32)
            size = audio.codec_context.frame_size or 1024
            for start in range(0, n, size):
                chunk = np.zeros((2, size), np.float32)  # (2, T) planar, last one zero-padded
                chunk[:, : len(tone[start : start + size])] = tone[start : start + size]
                sound = av.AudioFrame.from_ndarray(chunk, format="fltp", layout="stereo")
                sound.sample_rate, sound.pts = 48_000, start
                container.mux(audio.encode(sound))
            container.mux(audio.encode(None))
    return path


def render(scene: Scene, *, seconds: float, fps: float) -> np.ndarray:
    """(N, H, W, 3) frames of `scene` at t = i / fps."""
    return np.stack([scene(i / fps) for i in range(round(seconds * fps))])


def texture(h: int, w: int, *, seed: int, base: tuple[int, int, int], contrast: float = 25) -> np.ndarray:
    """(H, W, 3) uint8: a smooth coloured texture around `base`."""
    rng = np.random.default_rng(seed)
    coarse = rng.uniform(-1, 1, size=(h // 8 + 2, w // 8 + 2, 3))
    fine = np.kron(coarse, np.ones((8, 8, 1)))[:h, :w]  # blocky, then smoothed
    kernel = np.ones(9) / 9
    for axis in (0, 1):
        fine = np.apply_along_axis(lambda v: np.convolve(v, kernel, mode="same"), axis, fine)
    return np.clip(np.array(base) + contrast * fine, 0, 255).astype(np.uint8)


def _ball(image: np.ndarray, *, x: float, y: float, radius: float, color: tuple[int, int, int]) -> np.ndarray:
    """Draw an anti-aliased disc centred at pixel (x, y) on a copy of `image`."""
    h, w = image.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    cover = np.clip(radius + 0.5 - np.hypot(xx - x, yy - y), 0.0, 1.0)[..., None]  # (H, W, 1)
    return (image * (1 - cover) + np.array(color) * cover).astype(np.uint8)


def flash_scene(*, at: float, h: int = 64, w: int = 64) -> Scene:
    """A still textured scene lit by a flash starting at `at` s that decays over ~0.2 s."""
    still = texture(h, w, seed=1, base=(70, 90, 110)).astype(np.float32)

    def scene(t: float) -> np.ndarray:
        boost = 140.0 * 0.5 ** ((t - at) / 0.06) if t >= at - 1e-9 else 0.0
        return np.clip(still + boost, 0, 255).astype(np.uint8)

    return scene


def cut_scene(*, at: float, h: int = 64, w: int = 64) -> Scene:
    """Two different shots (warm, then cool), each with a slowly drifting square in its own
    place; the cut is at `at`."""
    shots = (
        texture(h, w, seed=2, base=(160, 90, 60), contrast=60),
        texture(h, w, seed=3, base=(50, 80, 150), contrast=60),
    )

    def scene(t: float) -> np.ndarray:
        second = t >= at - 1e-9
        image = shots[int(second)].copy()
        x0, y0 = int(8 + 8 * t), (40 if second else 12)
        image[y0 : y0 + 10, x0 : x0 + 10] = (220, 220, 200)
        return image

    return scene


def ball_scene(*, bounce_at: float | None, side: str = "right", h: int = 96, w: int = 128) -> Scene:
    """A ball moving horizontally at 75 px/s; with `bounce_at` it touches the wall on `side`
    at that time and comes back, without it it glides steadily across and never leaves."""
    background = texture(h, w, seed=4, base=(50, 60, 70))
    radius, speed = 7.0, 75.0
    wall = (w - 4 - radius) if side == "right" else (4 + radius)
    direction = 1.0 if side == "right" else -1.0

    def scene(t: float) -> np.ndarray:
        if bounce_at is None:
            x = 16 + 40 * t  # 40 px/s: stays inside for 2.4 s at 128 px
        else:
            x = wall - direction * speed * abs(t - bounce_at)
        image = background.copy()
        if side == "right":
            image[:, w - 3 :] = (200, 200, 200)
        else:
            image[:, :3] = (200, 200, 200)
        return _ball(image, x=x, y=h / 2, radius=radius, color=(240, 230, 80))

    return scene


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def make_video(video_dir: Path) -> Callable[..., Path]:
    """make_video(name, frames, **write_video kwargs) -> path, written once per session."""
    made: dict[str, Path] = {}

    def make(name: str, frames: np.ndarray | Sequence[np.ndarray], **kwargs: object) -> Path:
        if name not in made:
            made[name] = write_video(video_dir / name, frames, **kwargs)  # type: ignore[arg-type]
        return made[name]

    return make


@pytest.fixture(scope="session")
def counter_video(make_video: Callable[..., Path]) -> Callable[..., Path]:
    """Videos whose frame i is a flat grey of level 10 + 20 i (readable after coding)."""

    def make(
        name: str, *, n: int = 10, fps: float = 25, size: tuple[int, int] = (48, 64), **kwargs: object
    ) -> Path:
        h, w = size
        frames = np.stack([np.full((h, w, 3), 10 + 20 * i, np.uint8) for i in range(n)])
        return make_video(name, frames, fps=fps, **kwargs)

    return make


@pytest.fixture(scope="session")
def bunny() -> Path:
    return ASSETS / "bigbuckbunny.mp4"


@pytest.fixture(scope="session")
def bikes() -> Path:
    return ASSETS / "bikes.mp4"
