"""Time video decoding and visual analysis separately (median of repeated runs), print JSON.

    python -m scripts.bench_analysis                       # the current implementation
    python -m scripts.bench_analysis --baseline OLD.py     # also time another features.py

Clips: assets/bikes.mp4, assets/bigbuckbunny.mp4 and a corpus-like clip (128x128, 25 fps,
10.24 s, drawn by soundtrack.corpus.scene without the audio). Frames are decoded once per
clip at the analysis rate and size (config.VIDEO) and then analysed `--runs` times; with
`--baseline`, the two implementations are timed alternately on the same frames, so their
ratio is measured under the same load (the CPU may be shared). The baseline file is
loaded by path and is not part of the package (e.g. a copy of an earlier features.py).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np

from soundtrack.config import CLIP, VIDEO
from soundtrack.video import features
from soundtrack.video.decode import read_frames

REPO = Path(__file__).resolve().parents[1]


def corpus_like_clip(folder: Path, *, seed: int = 0, index: int = 0) -> Path:
    """Write one procedural corpus video (no audio) and return its path."""
    from soundtrack.corpus.compose import compose
    from soundtrack.corpus.scene import plan_scene, render_frames
    from soundtrack.video.encode import write_video

    rng = np.random.default_rng([seed, index])
    piece = compose(rng, duration=CLIP.seconds)
    scene = plan_scene(piece, rng, size=CLIP.video_size, fps=CLIP.video_fps)
    return write_video(render_frames(scene), folder / "corpus_like.mp4", fps=CLIP.video_fps)


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_bench_{path.stem}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def timed(fn, runs: int) -> list[float]:
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--baseline", type=Path, help="another features.py to time alongside")
    args = parser.parse_args()
    impls = {"current": features}
    if args.baseline:
        impls["baseline"] = load(args.baseline)

    with tempfile.TemporaryDirectory() as tmp:
        clips = {
            "bikes": REPO / "assets" / "bikes.mp4",
            "bigbuckbunny": REPO / "assets" / "bigbuckbunny.mp4",
            "corpus_like": corpus_like_clip(Path(tmp)),
        }
        report: dict[str, dict] = {}
        for name, path in clips.items():
            read = lambda: read_frames(path, fps=VIDEO.analysis_fps, width=VIDEO.analysis_width)  # noqa: E731
            decode_s = timed(read, args.runs)
            frames = read()
            entry: dict[str, object] = {
                "frames": list(frames.frames.shape),
                "seconds_of_video": round(frames.frames.shape[0] / frames.fps, 2),
                "decode_s": round(statistics.median(decode_s), 4),
            }
            samples: dict[str, list[float]] = {k: [] for k in impls}
            for _ in range(args.runs):  # alternate, so both see the same load
                for key, module in impls.items():
                    samples[key] += timed(lambda: module.analyze(frames), 1)
            for key in impls:
                entry[f"analyze_{key}_s"] = round(statistics.median(samples[key]), 4)
            if "baseline" in impls:
                ratios = [b / c for b, c in zip(samples["baseline"], samples["current"])]
                entry["speedup_median"] = round(statistics.median(ratios), 2)
                same = [(e.type, round(e.time, 3)) for e in impls["baseline"].analyze(frames).events] == [
                    (e.type, round(e.time, 3)) for e in features.analyze(frames).events
                ]
                entry["same_events"] = same
            report[name] = entry
    print(json.dumps({"runs": args.runs, "clips": report}, indent=1))


if __name__ == "__main__":
    main()
