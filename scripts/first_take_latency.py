"""How long the first take after the studio starts takes: `python -m scripts.first_take_latency`.

In a fresh Python process each (one with `StudioState.warm_up()` run first, as
app.py does at start-up, one without), times the first request's work: getting the loaded
pipeline, generating the take and writing its files; then a second take in the same process.
Prints one JSON object. Run it on an otherwise idle machine.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, sys, tempfile, time
from pathlib import Path
import torch
torch.set_num_threads(2)
from soundtrack.pipeline import Settings
from soundtrack.output import write_take
from soundtrack.studio.state import StudioState
studio = StudioState()
out = {}
if sys.argv[2] == "1":
    t = time.perf_counter(); studio.warm_up(); out["warm_up_s"] = time.perf_counter() - t
video = Path(sys.argv[1])
for k in (1, 2):
    t0 = time.perf_counter(); pipe = studio.pipeline("full"); t1 = time.perf_counter()
    take = pipe(video, Settings(seed=k)); t2 = time.perf_counter()
    write_take(take, Path(tempfile.mkdtemp()) / "take", video=video); t3 = time.perf_counter()
    out[f"take{k}"] = {"load_s": t1 - t0, "generate_s": t2 - t1, "write_s": t3 - t2, "total_s": t3 - t0}
print(json.dumps(out))
"""


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--video", type=Path, default=ROOT / "assets" / "flashes-and-bounces.mp4")
    args = p.parse_args()
    result = {}
    for name, warm in (("cold", "0"), ("warmed_up", "1")):
        run = subprocess.run([sys.executable, "-c", CHILD, str(args.video), warm], cwd=ROOT, check=True,
                             capture_output=True, text=True)
        result[name] = json.loads(run.stdout.strip().splitlines()[-1])
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
