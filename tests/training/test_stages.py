"""The stage table and the `python -m soundtrack.training` command."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from soundtrack.training import cvsm, instruments, ldm, vae, vocoder
from soundtrack.training.stages import STAGES, get_stage

ROOT = Path(__file__).resolve().parents[2]


def test_one_table_of_stage_classes() -> None:
    assert STAGES == {"vae": vae.VAEStage, "vocoder": vocoder.VocoderStage, "cvsm": cvsm.CVSMStage,
                      "ldm": ldm.LDMStage, "instruments": instruments.InstrumentStage,
                      "instruments-judge": instruments.JudgeStage}
    for name, cls in STAGES.items():
        stage = get_stage(name)
        assert isinstance(stage, cls)
        assert stage.config("tiny").train.steps > 0
    with pytest.raises(KeyError, match="unknown stage"):
        get_stage("nope")


def test_the_package_runs_the_loop() -> None:
    """`python -m soundtrack.training` is the loop's command line; importing the stage table
    does not import diffusers (an instrument stage never needs it)."""
    out = subprocess.run([sys.executable, "-m", "soundtrack.training", "--help"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "python -m soundtrack.training" in out.stdout and "instruments-judge" in out.stdout
    probe = "import sys, soundtrack.training.stages; print('diffusers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stdout + out.stderr[-2000:]
