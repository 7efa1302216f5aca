"""`python -m soundtrack bench [--json OUT]`: how fast the studio is on this machine.

One run measures one engine (`--engine`, default config.DEFAULT_ENGINE), at default settings
(soundtrack.pipeline.Settings) and prints one JSON object:

- `cold_start_s`: a fresh Python process importing the pipeline and loading the bundled
  model (median of `--cold-repeats`);
- `total_s_10s`, `total_s_30s`, `total_s_60s`: wall time of a whole generation (analysis,
  SNIO, sampling, decoding, vocoding, mixing; writing the files is `write_s_10s`) of a
  procedural video of that length (medians of `--repeats` for 10 s, one run for the
  longer ones), with `stages_10s` / `stages_60s` per stage;
- `snio_iter_s`: median seconds per SNIO iteration (one surrogate pass + backward);
- `first_preview_s`: from the call to the first streamed preview (SNIO iteration 0);
- `peak_rss_mb`: peak resident memory of this process;
- `seed_baseline_s_10s`: the seed configuration (the paper's released code: a MusicLDM-sized
  UNet, 200 DDIM steps with CFG; soundtrack/evaluation/bench_seed.py) for the 10 s video, UNet time
  only, so it is a lower bound; `speedup` = seed_baseline_s_10s / total_s_10s;
- `scaling`: seconds per video second at 10, 30 and 60 s and the 60 s / 10 s time ratio
  (linear cost gives a ratio near 6 for 60/10 windows-wise: 1 vs 8 windows).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from soundtrack.config import DEFAULT_ENGINE, ENGINES
from soundtrack.errors import InputError

REPO = Path(__file__).resolve().parents[2]  # a fresh process imports the package from here


def procedural_video(path: Path, seconds: float, *, seed: int = 0) -> Path:
    """A 25 fps 192x108 clip: a ball moving across a textured background, a flash every ~1.7 s
    and a hard cut every ~4 s (the events the studio reacts to)."""
    from soundtrack.video.encode import write_video

    rng = np.random.default_rng(seed)
    h, w = 108, 192
    backgrounds = [rng.integers(20, 120, (h, w, 3), dtype=np.uint8) for _ in range(3)]
    yy, xx = np.mgrid[0:h, 0:w]

    def frames():
        for k in range(int(round(seconds * 25))):
            t = k / 25
            img = backgrounds[int(t // 4.0) % 3].copy()
            cx = (0.1 + 0.8 * ((t * 0.3) % 1.0)) * w
            cy = h / 2 + 25 * np.sin(2 * np.pi * t)
            img[(xx - cx) ** 2 + (yy - cy) ** 2 < 100] = (240, 200, 60)
            if k > 0 and (t % 1.7) < 0.05:
                img[:] = 250
            yield img

    return write_video(frames(), path, fps=25)


def _cold_start(checkpoints: Path | None, threads: int, engine: str) -> float:
    root = None if checkpoints is None else str(checkpoints)
    code = ("import time, torch; t = time.perf_counter(); torch.set_num_threads(%d); "
            "from soundtrack.pipeline import SoundtrackPipeline; SoundtrackPipeline.bundled(%r, engine=%r); "
            "print(time.perf_counter() - t)") % (threads, root, engine)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True,
                   cwd=REPO, env=dict(os.environ, PYTHONWARNINGS="ignore"))
    return time.perf_counter() - t0  # includes the interpreter's own start


def _timed_run(pipe, video: Path, settings) -> dict:
    """One streamed generation: total, per-stage, first preview and per-iteration times."""
    from soundtrack.pipeline import UpdateKind

    t0 = time.perf_counter()
    first, marks, take = None, [], None
    for u in pipe.stream(video, settings):
        now = time.perf_counter()
        if u.kind is UpdateKind.SNIO:
            first = first if first is not None else now - t0
            marks.append((u.window, u.iteration, now))
        if u.kind is UpdateKind.DONE:
            take = u.take
    total = time.perf_counter() - t0
    iters = [b[2] - a[2] for a, b in zip(marks, marks[1:]) if a[0] == b[0]]  # within a window
    return {"total": total, "first_preview": first, "iters": iters, "take": take,
            "stages": {k: round(v, 3) for k, v in take.report["timings_s"].items()}}


def bench(*, checkpoints: Path | None = None, repeats: int = 3, cold_repeats: int = 3,
          lengths: tuple[float, ...] = (10.0, 30.0, 60.0), seed_config: str = "musicldm",
          seed_repeats: int = 3, threads: int | None = None, engine: str = DEFAULT_ENGINE,
          progress: bool = True) -> dict:
    import torch

    from soundtrack.evaluation.bench_seed import OUR_LATENT, seed_baseline, windows_for
    from soundtrack.pipeline import Settings, SoundtrackPipeline
    from soundtrack.output import write_take

    threads = threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    say = (lambda msg: print(msg, file=sys.stderr, flush=True)) if progress else (lambda msg: None)
    out: dict = {"engine": engine, "threads": threads, "settings": Settings().to_dict()}
    # 1. Cold start in fresh processes
    say("cold start ...")
    pipe = SoundtrackPipeline.bundled(checkpoints, engine=engine)  # a missing model: one line, before timing
    out["cold_start_s"] = statistics.median(_cold_start(checkpoints, threads, engine)
                                            for _ in range(cold_repeats))
    with tempfile.TemporaryDirectory(prefix="soundtrack-bench-") as tmp:
        tmp = Path(tmp)
        runs: dict[float, list[dict]] = {}
        for seconds in lengths:
            video = procedural_video(tmp / f"clip-{seconds:g}s.mp4", seconds)
            n = repeats if seconds == lengths[0] else 1
            say(f"{seconds:g} s video x {n} ...")
            runs[seconds] = [_timed_run(pipe, video, Settings()) for _ in range(n)]
            if seconds == lengths[0]:
                t0 = time.perf_counter()
                write_take(runs[seconds][-1]["take"], tmp / "out", video=video)
                out[f"write_s_{seconds:g}s"] = time.perf_counter() - t0
        # 2. Medians
        for seconds, rs in runs.items():
            out[f"total_s_{seconds:g}s"] = statistics.median(r["total"] for r in rs)
        short, long_ = lengths[0], lengths[-1]
        out[f"stages_{short:g}s"] = runs[short][len(runs[short]) // 2]["stages"]
        out[f"stages_{long_:g}s"] = runs[long_][0]["stages"]
        iters = [i for rs in runs.values() for r in rs for i in r["iters"]]
        out["snio_iter_s"] = statistics.median(iters) if iters else None
        out["first_preview_s"] = statistics.median(r["first_preview"] for r in runs[short])
        out["scaling"] = {
            "seconds_per_video_second": {f"{s:g}": out[f"total_s_{s:g}s"] / s for s in lengths},
            f"ratio_{long_:g}s_over_{short:g}s": out[f"total_s_{long_:g}s"] / out[f"total_s_{short:g}s"],
            "windows": {f"{s:g}": len(runs[s][0]["take"].report["windows"]) for s in lengths},
        }
    # 3. The seed configuration on the same latent size, same threads
    say("seed baseline (MusicLDM-sized UNet, one CFG step) ...")
    seed = seed_baseline(latent_shape=OUR_LATENT, repeats=seed_repeats, threads=threads, config=seed_config)
    out["seed_baseline"] = seed
    out["seed_baseline_s_10s"] = seed["seconds_per_clip"] * windows_for(lengths[0])
    out["speedup"] = out["seed_baseline_s_10s"] / out[f"total_s_{lengths[0]:g}s"]
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # total_s_10s / total_s_60s are the names other checks read: keep them
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m soundtrack bench",
                                description="time the studio on this machine")
    p.add_argument("--json", type=Path, help="also write the JSON object here")
    p.add_argument("--checkpoints", type=Path, default=None, help="model folder (default: bundled)")
    p.add_argument("--repeats", type=int, default=3, help="runs of the 10 s video (median)")
    p.add_argument("--cold-repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: all cores)")
    p.add_argument("--engine", default=DEFAULT_ENGINE, choices=tuple(ENGINES),
                   help="the engine timed (default %(default)s)")
    p.add_argument("--quick", action="store_true",
                   help="a smoke run: 2 s / 3 s / 4 s videos, one repeat, the seed UNet in its tiny config")
    args = p.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.quick:
            result = bench(checkpoints=args.checkpoints, repeats=1, cold_repeats=1, lengths=(2.0, 3.0, 4.0),
                           seed_config="tiny", seed_repeats=1, threads=args.threads, engine=args.engine)
            # the quick run keeps the required key names, pointing at its own lengths
            result["total_s_10s"], result["total_s_60s"] = result["total_s_2s"], result["total_s_4s"]
        else:
            result = bench(checkpoints=args.checkpoints, repeats=args.repeats, cold_repeats=args.cold_repeats,
                           threads=args.threads, engine=args.engine)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    text = json.dumps(result, indent=1, default=float)
    print(text)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
