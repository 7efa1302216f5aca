"""Copy trained runs into checkpoints/ (config.json + model.safetensors only): the bundled model.

    python scripts/bundle_checkpoints.py [--out checkpoints] [--runs runs]

Folder names are what soundtrack.pipeline.load_bundled reads: vae, vocoder, cvsm, ldm,
ldm-nosdma (the SDMA ablation, for evaluation and A/B), instruments (SNIO's classifier) and
instruments-judge (the evaluation's independent judge).
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

# the diffusion runs are the beat-grid fine-tunes of ldm-small / ldm-small-nosdma (docs/TRAINING.md)
RUNS = {"vae": "vae-small", "vocoder": "vocoder-small", "cvsm": "cvsm-small", "ldm": "ldm-small-beat",
        "ldm-nosdma": "ldm-small-nosdma-beat", "instruments": "instruments-small-ms",
        "instruments-judge": "instruments-judge-small-2sf"}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=Path("checkpoints"))
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    args = parser.parse_args()
    total = 0
    for name, run in RUNS.items():
        src = args.runs / run
        if not (src / "model.safetensors").is_file():
            print(f"skip {name}: {src} has no model.safetensors")
            continue
        dst = args.out / name
        dst.mkdir(parents=True, exist_ok=True)
        for f in ("config.json", "model.safetensors"):
            shutil.copy2(src / f, dst / f)
            total += (dst / f).stat().st_size
        print(f"{name:18s} <- {src}")
    print(f"total {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
