"""The training stages `python -m soundtrack.train STAGE` knows, and the contract they keep.

A stage is an object with:
- `config(name) -> cfg`: a frozen dataclass with a `train: TrainConfig` field, looked up in
  the stage's own table of named configs (`tiny` for tests, `small` for the bundled CPU
  model, `gpu` for a bigger run);
- `build(cfg) -> nn.Module`;
- `data(cfg, *, corpus, device) -> source` with `source.batch(*, step, rank, world, seed)`
  returning a dict of tensors on `device`; batch k must be a pure function of
  (seed, step, rank) so runs are deterministic and resumable;
- `loss(model, batch, *, step) -> (loss tensor, {name: float})`; `model` may be wrapped
  in DistributedDataParallel, so call it, don't reach into it.
Stages are imported lazily: `python -m soundtrack.train vae` does not import the UNet.
"""
from __future__ import annotations

import importlib

STAGES: dict[str, str] = {
    "vae": "soundtrack.models.vae:VAEStage",
    "vocoder": "soundtrack.models.vocoder:VocoderStage",
    "cvsm": "soundtrack.models.cvsm:CVSMStage",
    "ldm": "soundtrack.models.ldm:LDMStage",
    "instruments": "soundtrack.models.instruments:InstrumentStage",
    "instruments-judge": "soundtrack.models.instruments:JudgeStage",
}


def get_stage(name: str):
    """An instance of the stage called `name`."""
    if name not in STAGES:
        raise KeyError(f"unknown stage {name!r}; known: {', '.join(sorted(STAGES))}")
    module, _, cls = STAGES[name].partition(":")
    return getattr(importlib.import_module(module), cls)()
