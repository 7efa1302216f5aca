"""How fast a control change is heard in the studio: `python -m scripts.tweak_latency`.

Runs the studio's live loop (soundtrack.studio.live.run) on the bundled model without a
browser: one cold take of a clip, then balance moves, each of which mixes the last take's
stems again (DECISIONS #36), then tempo moves, each re-optimised warm from the take before.
Prints the seconds from each move to its first live preview (spectrogram, scores and
preview audio; a re-mix has none) and to the finished take with its files, and the
medians. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def moves(studio, session, video: Path, settings: list) -> tuple[list[float | None], list[float], list[str]]:
    """Each settings in turn as a warm move: (first preview s, take s, how the take was made)."""
    from soundtrack.studio.live import run

    first, full, how = [], [], []
    for s in settings:
        t0, preview = time.perf_counter(), None
        for frame in run(studio, session, session.request(), video, s, warm=True):
            if preview is None and frame.kind == "preview":
                preview = time.perf_counter() - t0
        full.append(time.perf_counter() - t0)
        first.append(preview)
        take = session.last_take
        how.append("remix" if take.remixed_from is not None
                   else "warm" if take.warm_from is not None else "seed")
    return first, full, how


def show(name: str, first: list[float | None], full: list[float], how: list[str]) -> None:
    previews = [x for x in first if x is not None]
    print(f"{name}: made by {sorted(set(how))}")
    if previews:
        print("  first preview s", [round(x, 2) for x in previews],
              "median", round(statistics.median(previews), 2))
    print("  take s", [round(x, 2) for x in full], "median", round(statistics.median(full), 2))


def main() -> None:
    from soundtrack.pipeline import Settings
    from soundtrack.studio.live import Session, run
    from soundtrack.studio.state import StudioState

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=Path, default=ROOT / "assets" / "flashes-and-bounces.mp4")
    p.add_argument("--balances", type=float, nargs="+", default=[0.3, 0.7, 0.4, 0.6, 0.5])
    p.add_argument("--tempos", type=float, nargs="+", default=[100, 130, 110, 140, 120])
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    studio = StudioState()
    session = Session(studio.takes_dir)
    for _ in run(studio, session, session.request(), args.video, Settings(seed=args.seed, tempo=120), warm=False):
        pass  # the take the moves start from
    show("balance moves", *moves(studio, session, args.video,
                                 [Settings(seed=args.seed, tempo=120, balance=b) for b in args.balances]))
    last = args.balances[-1]
    show("tempo moves", *moves(studio, session, args.video,
                               [Settings(seed=args.seed, tempo=t, balance=last) for t in args.tempos]))
    session.close()


if __name__ == "__main__":
    main()
