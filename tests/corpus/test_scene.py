"""Procedural scenes: events sit on the frame grid and the picture shows only them."""
from __future__ import annotations

import numpy as np

from soundtrack.corpus.compose import compose
from soundtrack.corpus.scene import MIN_EVENT_GAP_S, plan_scene, render_frames


def _scene(i: int):
    rng = np.random.default_rng([5, i])
    piece = compose(rng, duration=10.24)
    return plan_scene(piece, rng, size=64, fps=25)


def test_events_are_on_the_frame_grid_and_separated() -> None:
    for i in range(20):
        scene = _scene(i)
        times = np.array([e.time for e in scene.events])
        assert len(times) > 0
        np.testing.assert_allclose(times * 25, np.round(times * 25), atol=1e-9)
        assert np.all(np.diff(times) >= MIN_EVENT_GAP_S - 1e-9)
        assert all(e.type in {"impact", "whoosh", "flash", "cut"} and 0 <= e.x <= 1 for e in scene.events)


def test_cuts_fall_on_downbeats() -> None:
    for i in range(20):
        scene = _scene(i)
        downbeats = scene.piece.downbeat_times()
        for e in scene.events:
            if e.type == "cut":
                assert np.min(np.abs(downbeats - e.time)) <= 0.5 / 25 + 1e-9


def test_balls_touch_the_floor_only_at_labelled_impacts() -> None:
    floor = 0.78
    for i in range(20):
        scene = _scene(i)
        for b, ball in enumerate(scene.balls):
            hits = np.array([e.time for e in scene.events if e.type == "impact" and e.source == b])
            np.testing.assert_allclose(hits, [t for t, _ in ball.bounces])
            for t in np.arange(0, 10.24, 0.01):
                _, y = ball.position(t, floor=floor, duration=10.24)
                assert y <= floor + 1e-9
                if floor - y < 1e-3:  # on the floor: only within 30 ms of a labelled hit
                    assert np.min(np.abs(hits - t)) < 0.03, (i, b, t)
            for t, x in ball.bounces:
                bx, by = ball.position(t, floor=floor, duration=10.24)
                assert abs(by - floor) < 1e-9 and abs(bx - x) < 1e-9


def test_frames_show_flashes_and_cuts_where_labelled() -> None:
    """Mean brightness jumps at every flash; the colour changes at every cut."""
    for i in range(12):
        scene = _scene(i)
        frames = np.stack(list(render_frames(scene))).astype(np.float32)  # (N, H, W, 3)
        assert frames.shape == (256, 64, 64, 3)
        top = frames[:, :40].mean(axis=(1, 2))  # (N, 3): the area above the floor band
        for e in scene.events:
            k = int(round(e.time * 25))
            if e.type == "flash":
                assert top[k].mean() - top[k - 1].mean() > 60
            if e.type == "cut":
                assert np.abs(top[k] - top[k - 1]).sum() > 3 * np.abs(top[k - 1] - top[k - 2]).sum()
