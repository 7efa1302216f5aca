"""Copy trained runs into checkpoints/ (config.json + model.safetensors only): the bundled model.

    python -m scripts.bundle_checkpoints [--out checkpoints] [--runs runs]

Each stage goes to its folder of soundtrack.models.checkpoint.FOLDERS, which is what
soundtrack.pipeline.load_bundled reads: vae, vocoder, cvsm, ldm, ldm-nosdma (the SDMA
ablation, for evaluation and A/B), score and score-nosdma (the score engine's model and its
ablation), instruments (SNIO's classifier), instruments-judge (the evaluation's corpus judge)
and instruments-indep (the score engine's judge, which never heard FluidR3). A stage whose run
is missing is skipped: its bundled folder stays as it is.
"""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from soundtrack.models.checkpoint import CHECKPOINTS, FOLDERS

# stage -> the training run bundled for it; the diffusion runs are the beat-grid fine-tunes of
# ldm-small / ldm-small-nosdma (docs/TRAINING.md)
RUNS = {"vae": "vae-small", "vocoder": "vocoder-small", "cvsm": "cvsm-small", "ldm": "ldm-small-beat",
        "ldm-nosdma": "ldm-small-nosdma-beat", "instruments": "instruments-small-ms",
        "instruments-judge": "instruments-judge-small-2sf", "score": "ldm-score-small",
        "score-nosdma": "ldm-score-small-nosdma", "instruments-indep": "instruments-judge-small-ms-tim"}
assert set(RUNS) == set(FOLDERS), f"a run for every bundled stage: {sorted(set(FOLDERS) ^ set(RUNS))}"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=CHECKPOINTS)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    args = parser.parse_args()
    total = 0
    for stage, run in RUNS.items():
        src = args.runs / run
        if not (src / "model.safetensors").is_file():
            print(f"skip {stage}: {src} has no model.safetensors")
            continue
        dst = args.out / FOLDERS[stage]
        dst.mkdir(parents=True, exist_ok=True)
        for f in ("config.json", "model.safetensors"):
            shutil.copy2(src / f, dst / f)
            total += (dst / f).stat().st_size
        print(f"{stage:18s} <- {src}")
    print(f"total {total / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
