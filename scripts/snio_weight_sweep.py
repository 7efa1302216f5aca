"""One of SNIO's score weights, swept over the control requests (docs/method/snio.md eq. 8).

    python scripts/snio_weight_sweep.py balance_no_events 0.1 0.4 1.0 3.0 --videos assets/bigbuckbunny.mp4
    python scripts/snio_weight_sweep.py instruments 1 2 4 --tempos 3

WEIGHT is a score of `soundtrack.sampling.scores.DEFAULT_WEIGHTS` (tempo, instruments,
balance, sync, cvsm) or `balance_no_events` (BALANCE_WEIGHT_NO_EVENTS, eq. 8b). For each
value, runs the requests of `python -m soundtrack.evaluate_controls` (the same videos, tempos,
instruments, balances and seeds; `--videos` keeps that command's numbering of the requests
and runs only those of the videos named) with SNIO as shipped but that weight, and prints
one JSON line per value: the SNIO row of that command's summary, plus the effects stems that
came out silent and the number of effects onsets.
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

    p = argparse.ArgumentParser(prog="python scripts/snio_weight_sweep.py")
    p.add_argument("weight", choices=[*scores.DEFAULT_WEIGHTS, "balance_no_events"])
    p.add_argument("values", type=float, nargs="+")
    p.add_argument("--videos", type=Path, nargs="+", default=None, help="default: every video in assets/")
    p.add_argument("--tempos", type=int, default=len(ec.TEMPOS), help="how many of the 9 tempos 60..180")
    p.add_argument("--seed", type=int, default=0, help="seed of the first request (others: seed + k), as in "
                   "evaluate_controls; another seed is a held-out set of the same requests")
    args = p.parse_args(argv)
    all_videos = sorted((ROOT / "assets").glob("*.mp4"))
    keep = None if args.videos is None else {v.name for v in args.videos}
    requests = [r for r in ec.control_requests(all_videos, n_tempos=args.tempos, seed=args.seed)
                if keep is None or r[0].name in keep]
    root = checkpoint_root(None)
    pipe = SoundtrackPipeline.bundled(root)
    judge = load_instrument_judge(root / "instruments-judge")
    events = {v: [e.time for e in pipe.plan(v).events] for v in {r[0] for r in requests}}
    for value in args.values:
        if args.weight == "balance_no_events":
            scores.BALANCE_WEIGHT_NO_EVENTS = value
        else:
            scores.DEFAULT_WEIGHTS[args.weight] = value
        rows = []
        for video, tempo, inst, bal, seed in requests:
            settings = Settings(tempo=tempo, instruments={f: 1.0 for f in inst}, balance=bal, seed=seed)
            take = pipe(video, settings)
            rows.append(ec._measure(take, judge, instruments=inst, balance=bal, events=events[video]))
        summary = {k: v for k, v in ec._summary(rows).items() if k != "scores"}
        print(json.dumps({"weight": args.weight, "value": value, **summary,
                          "silent_effects": sum(math.isinf(r["balance_err_db"]) for r in rows),
                          "effects_onsets": sum(r["sync_est"] for r in rows)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
