"""The training stages `python -m soundtrack.training STAGE` knows, and the contract they keep.

`STAGES` is the one table: stage name -> stage class, each defined with its batches and loss
in soundtrack/training/STAGE.py (the networks and their configs are soundtrack/models/).
A stage is an object with:
- `config(name) -> cfg`: a frozen dataclass with a `train: TrainConfig` field, looked up in
  the model's own table of named configs (`tiny` for tests, `small` for the bundled CPU
  model, `gpu` for a bigger run);
- `build(cfg) -> nn.Module`;
- `data(cfg, *, corpus, device) -> source` with `source.batch(*, step, rank, world, seed)`
  returning a dict of tensors on `device`; batch k must be a pure function of
  (seed, step, rank) so runs are deterministic and resumable;
- `loss(model, batch, *, step) -> (loss tensor, {name: float})`; `model` may be wrapped
  in DistributedDataParallel, so call it, don't reach into it.
Importing the table builds no model: diffusers' UNet is imported when an LDM is built.
"""
from __future__ import annotations

from soundtrack.training.cvsm import CVSMStage
from soundtrack.training.instruments import InstrumentStage, JudgeStage
from soundtrack.training.ldm import LDMStage
from soundtrack.training.vae import VAEStage
from soundtrack.training.vocoder import VocoderStage

STAGES: dict[str, type] = {
    "vae": VAEStage,
    "vocoder": VocoderStage,
    "cvsm": CVSMStage,
    "ldm": LDMStage,
    "instruments": InstrumentStage,
    "instruments-judge": JudgeStage,
}


def get_stage(name: str):
    """An instance of the stage called `name`."""
    if name not in STAGES:
        raise KeyError(f"unknown stage {name!r}; known: {', '.join(sorted(STAGES))}")
    return STAGES[name]()


__all__ = ["STAGES", "get_stage"]
