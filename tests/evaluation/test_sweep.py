"""Sweeps as configuration: every file of soundtrack/evaluation/sweeps/ is a list of distinct named
variants that build valid configs and settings, and `python -m soundtrack.evaluation.sweep` refuses
an unknown sweep or an option of the other measurement with one line and exit status 2."""
from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from soundtrack.config import GenerationConfig, ScoreWeights
from soundtrack.evaluation.sweep import main, run_sweep, sdma_strengths
from soundtrack.evaluation.sweeps import CONTROLS, EVALUATION, Sweep, Variant, load_sweep, sweep_names
from soundtrack.models.sdma import SDMAParams
from soundtrack.pipeline import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_sweeps_are_the_files_of_the_package():
    assert {"guidance", "sampler_steps", "sdma_strength", "snio_balance_no_events",
            "snio_instrument_weight"} <= set(sweep_names())
    for name in sweep_names():
        assert load_sweep(name).name == name


@pytest.mark.parametrize("name", sweep_names())
def test_a_sweeps_variants_are_distinct_and_valid(name):
    sweep = load_sweep(name)
    assert sweep.measure in (CONTROLS, EVALUATION) and sweep.about
    seen = set()
    for v in sweep.variants:
        assert isinstance(v.config, GenerationConfig)
        Settings(**v.settings)  # every setting is a valid Settings field and value
        SDMAParams(**v.sdma)
        key = (v.config, tuple(sorted(v.settings.items())), tuple(sorted(v.sdma.items())))
        assert key not in seen, f"{name}: {v.name} repeats another variant"
        seen.add(key)


@pytest.mark.parametrize("name, field", [("snio_instrument_weight", "instruments"),
                                         ("snio_balance_no_events", "balance_no_events")])
def test_a_weight_sweep_builds_distinct_generation_configs(name, field):
    """The weight varies in the config each variant's pipeline gets (no module global is patched),
    and the shipped weight is one of the variants."""
    variants = load_sweep(name).variants
    configs = [v.config for v in variants]
    assert len(set(configs)) == len(configs) and GenerationConfig() in configs
    for v in variants:
        w = getattr(v.config.weights, field)
        assert v.config == GenerationConfig(weights=dataclasses.replace(ScoreWeights(), **{field: w}))
        assert v.changes() == ({} if v.config == GenerationConfig() else {f"weights.{field}": w})


def test_variant_changes_name_what_differs_from_the_shipped_defaults():
    v = Variant("x", GenerationConfig(weights=ScoreWeights(sync=0.5)), settings={"guidance": 2.0},
                sdma={"gamma": 8.0})
    assert v.changes() == {"weights.sync": 0.5, "guidance": 2.0, "sdma.gamma": 8.0}
    with pytest.raises(AssertionError):
        Sweep(name="dup", about="", measure=CONTROLS, variants=(Variant("a"), Variant("a")))


def test_sdma_strengths_are_restored_after_a_variant():
    class Ldm:  # the two attributes sdma_strengths reads
        cfg = type("Cfg", (), {"sdma": True})()
        controller = type("Ctrl", (), {"params": SDMAParams()})()

    ldm = Ldm()
    with sdma_strengths(ldm, {"gamma": 16.0}):
        assert ldm.controller.params.gamma == 16.0 and ldm.controller.params.lam == SDMAParams().lam
    assert ldm.controller.params == SDMAParams()


def test_unknown_sweep_is_one_line_and_exit_2():
    r = subprocess.run([sys.executable, "-m", "soundtrack.evaluation.sweep", "no_such_sweep"], cwd=ROOT,
                       capture_output=True, text=True, timeout=300,
                       env=dict(os.environ, PYTHONWARNINGS="ignore"))
    assert r.returncode == 2 and r.stdout == ""
    err = r.stderr.strip()
    assert err.startswith("error: unknown sweep 'no_such_sweep'; known: ") and "\n" not in err
    assert "snio_instrument_weight" in err


@pytest.mark.parametrize("argv, message", [
    (["guidance", "--tempos", "3"], "--tempos does not apply to guidance"),
    (["snio_instrument_weight", "--n", "5"], "--n does not apply to snio_instrument_weight"),
    (["guidance", "--variants", "w=9,w_g=9"], "guidance has no variant w=9,w_g=9"),
])
def test_options_of_the_other_measurement_are_one_line_and_exit_2(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_run_sweep_checks_before_loading_a_model(tmp_path):
    """Bad options are refused before the (slow) model load: a missing model folder is not reached."""
    from soundtrack.errors import InputError

    with pytest.raises(InputError, match="--n must be at least 1"):
        next(run_sweep(load_sweep("guidance"), checkpoints=tmp_path / "none", n=0))
