"""SNIO's balance weight in windows without visual events (docs/method/snio.md eq. 8b).

    python scripts/balance_weight_sweep.py --weights 0.1 0.4 1.0 3.0

Runs the control requests of `python -m soundtrack.evaluate_controls` on the event-free
assets/bigbuckbunny.mp4 (its 9 tempos, with the same instruments, balances and seeds as that
command gives this video), with SNIO as shipped but BALANCE_WEIGHT_NO_EVENTS set to each
weight, and prints one JSON line per weight: effects stems that came out silent, share of
takes within ±1 dB of the slider, tempo within ±4 %, the independent judge's requested /
unrequested detections, and the number of effects onsets.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main(argv: list[str] | None = None) -> int:
    from soundtrack import evaluate_controls as ec
    from soundtrack.models.instruments import load_instrument_judge
    from soundtrack.pipeline import Settings, SoundtrackPipeline, checkpoint_root
    from soundtrack.sampling import scores

    p = argparse.ArgumentParser(prog="python scripts/balance_weight_sweep.py")
    p.add_argument("--weights", type=float, nargs="+", default=[scores.BALANCE_WEIGHT_NO_EVENTS],
                   help="balance weights for windows without events (eq. 8b)")
    p.add_argument("--video", type=Path, default=ROOT / "assets" / "bigbuckbunny.mp4")
    args = p.parse_args(argv)
    root = checkpoint_root(None)
    pipe = SoundtrackPipeline.bundled(root)
    judge = load_instrument_judge(root / "instruments-judge")
    events = [e.time for e in pipe.plan(args.video).events]
    if events:
        print(f"error: {args.video.name} has {len(events)} visual events; the sweep is for event-free videos",
              file=sys.stderr)
        return 2
    # evaluate_controls numbers requests over (sorted videos) x (tempos); this video's first index
    first = sorted(v.name for v in (ROOT / "assets").glob("*.mp4")).index(args.video.name) * len(ec.TEMPOS)
    for w in args.weights:
        scores.BALANCE_WEIGHT_NO_EVENTS = w
        rows = []
        for j, tempo in enumerate(ec.TEMPOS):
            k = first + j
            inst, bal = ec.INSTRUMENT_SETS[k % len(ec.INSTRUMENT_SETS)], ec.BALANCES[k % len(ec.BALANCES)]
            settings = Settings(tempo=tempo, instruments={f: 1.0 for f in inst}, balance=bal, seed=k)
            take = pipe(args.video, settings)
            rows.append(ec._measure(take, judge, instruments=inst, balance=bal, events=events))
        s = ec._summary(rows)
        silent = sum(math.isinf(r["balance_err_db"]) for r in rows)
        print(json.dumps({"balance_weight": w, "silent_effects": silent,
                          "takes": len(rows), "balance_within_1db": s["balance_within_1db"],
                          "tempo_within_4pct": s["tempo_within_4pct"],
                          "inst_requested_detected": s["inst_requested_detected"],
                          "inst_unrequested_detected": s["inst_unrequested_detected"],
                          "effects_onsets": sum(r["sync_est"] for r in rows)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
