"""Sweeps as configuration (as audiocraft's `grids/`): one small file of settings per sweep.

Each module here defines `SWEEP`, a :class:`Sweep`: named variants of how takes are generated
(a GenerationConfig, plus any per-request settings and inference-time SDMA strengths), and
which measurement runs them. One command runs any of them:

    python -m soundtrack.evaluation.sweep NAME [--n N] [--json OUT]

Measurements:
- `CONTROLS`: the requests of `python -m soundtrack.evaluation.controls` (same videos, tempos,
  instruments, balances and seeds), each variant's takes summarised as that table's SNIO row,
  plus the effects stems that came out silent and the number of effects onsets;
- `EVALUATION`: the first n test clips generated with their own labels and the evaluation's
  seeds (soundtrack/evaluation/ablations.py), each variant read by the evaluation's metrics
  (`metrics`: FAD and/or stem leakage; effects sync F1 and tempo accuracy always).

Nothing global is changed while a sweep runs: a variant's config goes to its own pipeline.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from dataclasses import dataclass, field
from typing import Any, Mapping

from soundtrack.config import GenerationConfig
from soundtrack.errors import InputError

CONTROLS, EVALUATION = "controls", "evaluation"
EVALUATION_METRICS = ("fad", "leakage")  # sync F1 and tempo accuracy are always measured


@dataclass(frozen=True)
class Variant:
    """One setting of a sweep: how its takes are generated."""

    name: str
    config: GenerationConfig = GenerationConfig()
    # Settings fields every request of this variant sets (guidance, steps, snio_iters, ...)
    settings: Mapping[str, Any] = field(default_factory=dict)
    # SDMAParams fields of the diffusion model while this variant's takes are made (the trained
    # strengths changed at inference; restored afterwards)
    sdma: Mapping[str, float] = field(default_factory=dict)

    def changes(self) -> dict[str, Any]:
        """What this variant sets apart from the shipped defaults, flat: {"weights.instruments": 2.0,
        "guidance": 3.0, "sdma.gamma": 8.0, ...} (the settings and SDMA strengths as given)."""
        out: dict[str, Any] = {}
        default = GenerationConfig()
        for part in dataclasses.fields(GenerationConfig):
            mine, theirs = getattr(self.config, part.name), getattr(default, part.name)
            for f in dataclasses.fields(mine):
                if getattr(mine, f.name) != getattr(theirs, f.name):
                    out[f"{part.name}.{f.name}"] = getattr(mine, f.name)
        out.update(self.settings)
        out.update({f"sdma.{k}": v for k, v in self.sdma.items()})
        return out


@dataclass(frozen=True)
class Sweep:
    """A named list of variants and the measurement that runs them."""

    name: str
    about: str  # one line: what is varied and what is read
    measure: str  # CONTROLS or EVALUATION
    variants: tuple[Variant, ...]
    metrics: tuple[str, ...] = ()  # EVALUATION: of EVALUATION_METRICS
    n: int = 30  # EVALUATION: test clips, by default
    videos: tuple[str, ...] = ()  # CONTROLS: the asset videos whose requests run by default (() = all)

    def __post_init__(self) -> None:
        names = [v.name for v in self.variants]
        assert names and len(set(names)) == len(names), f"{self.name}: variants need distinct names: {names}"
        assert self.measure in (CONTROLS, EVALUATION), f"{self.name}: unknown measurement {self.measure!r}"
        assert set(self.metrics) <= set(EVALUATION_METRICS), f"{self.name}: unknown metrics {self.metrics}"
        assert self.measure == EVALUATION or not self.metrics, f"{self.name}: metrics are the evaluation's"


def sweep_names() -> list[str]:
    """The sweeps of this package, by module name."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def load_sweep(name: str) -> Sweep:
    """The `SWEEP` of sweeps/NAME.py, or a one-line InputError naming the known sweeps."""
    known = sweep_names()
    if name not in known:
        raise InputError(f"unknown sweep {name!r}; known: {', '.join(known)}")
    return importlib.import_module(f"{__name__}.{name}").SWEEP


__all__ = ["CONTROLS", "EVALUATION", "EVALUATION_METRICS", "Sweep", "Variant", "load_sweep", "sweep_names"]
