"""Trained runs on disk: where the bundled ones live, and reading one back into its model.

A run folder holds `config.json` (the model's frozen config dataclass, `dataclasses.asdict`)
and `model.safetensors` (its state dict), as `export` of soundtrack/training/loop.py writes them.
:func:`load_run` is the inverse; every `load_*` function of soundtrack/models goes through it.

The bundled model is one folder per stage under `checkpoints/` (`FOLDERS`), or under
$SOUNDTRACK_CHECKPOINTS when that is set (:func:`checkpoint_root`).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from soundtrack.errors import InputError

CHECKPOINTS = Path(__file__).resolve().parents[2] / "checkpoints"  # the bundled model
TRAIN_COMMAND = "python -m soundtrack.training"  # trains a stage (soundtrack/training/__main__.py)
FOLDERS = {"vae": "vae", "vocoder": "vocoder", "cvsm": "cvsm", "ldm": "ldm", "ldm-nosdma": "ldm-nosdma",
           "score": "score", "score-nosdma": "score-nosdma",
           "instruments": "instruments", "instruments-judge": "instruments-judge",
           "instruments-indep": "instruments-indep"}


def checkpoint_root(root: Path | str | None = None) -> Path:
    """The model folder: `root` if given, else $SOUNDTRACK_CHECKPOINTS (read now), else `CHECKPOINTS`."""
    return Path(root or os.environ.get("SOUNDTRACK_CHECKPOINTS") or CHECKPOINTS)


def run_folder(stage: str, root: Path | str | None = None) -> Path:
    """The run folder of `stage` (a key of `FOLDERS`) in :func:`checkpoint_root`."""
    return checkpoint_root(root) / FOLDERS[stage]


def load_run(model_cls: type, cfg_cls: type, run_dir: Path | str, *, stage: str, name: str | None = None,
             device: torch.device | str = "cpu") -> torch.nn.Module:
    """`RUN/config.json` + `RUN/model.safetensors` -> the model in eval mode on `device`
    (safetensors only: nothing is unpickled). A missing file is a one-line InputError,
    "no NAME in RUN" (NAME defaults to "trained STAGE"), naming the command that trains the stage."""
    from safetensors.torch import load_file

    from soundtrack.config import config_from_dict

    run_dir = Path(run_dir)
    cfg_path, weights = run_dir / "config.json", run_dir / "model.safetensors"
    if not cfg_path.is_file() or not weights.is_file():
        raise InputError(f"no {name or f'trained {stage}'} in {run_dir}: expected config.json and "
                         f"model.safetensors ({TRAIN_COMMAND} {stage})")
    model = model_cls(config_from_dict(cfg_cls, json.loads(cfg_path.read_text())))
    model.load_state_dict(load_file(os.fspath(weights)))
    return model.to(device).eval()


__all__ = ["CHECKPOINTS", "FOLDERS", "TRAIN_COMMAND", "checkpoint_root", "load_run", "run_folder"]
