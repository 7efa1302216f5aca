"""How fast a control change is heard in the studio: `python scripts/tweak_latency.py`.

Runs the studio's live loop (soundtrack.studio.live.run) on the bundled model without a
browser: one cold take of a clip, then a balance move after another, each re-optimised warm
from the take before. Prints the seconds from each move to its first live preview
(spectrogram, scores and preview audio) and to the finished take with its files, and the
medians. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from soundtrack.pipeline import Settings
    from soundtrack.studio.live import Session, run

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=Path, default=ROOT / "assets" / "flashes-and-bounces.mp4")
    p.add_argument("--balances", type=float, nargs="+", default=[0.3, 0.7, 0.4, 0.6, 0.5])
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    session = Session()
    for _ in run(session, session.request(), args.video, Settings(seed=args.seed), warm=False):
        pass  # the take the moves start from
    first, full = [], []
    for balance in args.balances:
        t0, preview = time.perf_counter(), None
        for frame in run(session, session.request(), args.video, Settings(seed=args.seed, balance=balance),
                         warm=True):
            if preview is None and frame.kind == "preview":
                preview = time.perf_counter() - t0
        first.append(preview)
        full.append(time.perf_counter() - t0)
    print("first preview s", [round(x, 2) for x in first], "median", round(statistics.median(first), 2))
    print("take s", [round(x, 2) for x in full], "median", round(statistics.median(full), 2))


if __name__ == "__main__":
    main()
