"""Write the procedural example clips of the studio into assets/ (deterministic).

    .venv/bin/python -m scripts.make_example_clips [--out assets]

Each clip is a scene of the corpus generator (soundtrack/corpus/scene.py) at 256x256, 25
frames/s, 8 s: bouncing balls (impacts), white flashes and cuts whose times are known, so
the studio can show its effects landing on them. A clip is drawn from a fixed seed; the
first seed (counting up from `start`) whose scene has the wanted events is kept, and the
event list is printed so assets/CREDITS.md can name it.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from soundtrack.corpus.compose import compose
from soundtrack.corpus.scene import Scene, plan_scene, render_frames
from soundtrack.video.encode import write_video

REPO = Path(__file__).resolve().parents[1]

SIZE, FPS, SECONDS = 256, 25, 8.0
# name -> (first seed to try, mode wanted, minimum events of each type)
CLIPS = {
    "flashes-and-bounces.mp4": (100, "major", {"flash": 2, "impact": 4, "cut": 1}),
    "night-hits.mp4": (200, "minor", {"impact": 6, "cut": 2, "flash": 1}),
}


def find_scene(start: int, mode: str, wanted: dict[str, int]) -> tuple[int, Scene]:
    """The first seed from `start` whose piece has `mode` and whose scene has the wanted events."""
    for seed in range(start, start + 500):
        rng = np.random.default_rng([seed])
        piece = compose(rng, duration=SECONDS)
        if piece.mode != mode:
            continue
        scene = plan_scene(piece, rng, size=SIZE, fps=FPS)
        counts = {t: sum(e.type == t for e in scene.events) for t in wanted}
        if all(counts[t] >= n for t, n in wanted.items()):
            return seed, scene
    raise RuntimeError(f"no seed in {start}..{start + 499} gives {mode} with {wanted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "assets")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, (start, mode, wanted) in CLIPS.items():
        seed, scene = find_scene(start, mode, wanted)
        path = write_video(render_frames(scene), args.out / name, fps=FPS, crf=26)
        events = ", ".join(f"{e.type} {e.time:.2f}" for e in scene.events)
        piece = scene.piece
        print(f"{path.name}: seed {seed}, {piece.tempo_bpm:g} BPM {piece.key_name} {piece.mode}, "
              f"{path.stat().st_size / 1e6:.2f} MB; events: {events}")


if __name__ == "__main__":
    main()
