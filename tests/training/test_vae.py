"""The `vae` training stage: deterministic batches, training through the real loop, export and load."""
from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from soundtrack.models.vae import CONFIGS, MelVAE, VAEConfig, load_vae
from soundtrack.training.loop import train
from soundtrack.training.vae import VAEStage

TINY = CONFIGS["tiny"]


def test_batches_are_deterministic(tiny_corpus: Path) -> None:
    data = VAEStage().data(TINY, corpus=tiny_corpus, device=torch.device("cpu"))
    a = data.batch(step=3, rank=0, world=1, seed=0)["mel"]
    b = data.batch(step=3, rank=0, world=1, seed=0)["mel"]
    c = data.batch(step=4, rank=0, world=1, seed=0)["mel"]
    assert a.shape == (TINY.train.batch_size, 64, TINY.crop_frames) and a.dtype == torch.float32
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_train_export_load_and_determinism(tiny_corpus: Path, tmp_path: Path) -> None:
    for run in ("a", "b"):
        record = train("vae", "tiny", run_dir=tmp_path / run, corpus=tiny_corpus, max_steps=3, progress=False)
        assert record["step"] == 3 and {"l1", "kl", "latent_std"} <= record.keys()
    wa, wb = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)

    # The in-memory model at the end of training (from the resume checkpoint) vs load_vae.
    in_memory = MelVAE(TINY)
    in_memory.load_state_dict(torch.load(tmp_path / "a" / "last.pt", weights_only=True)["model"])
    in_memory.eval()
    loaded = load_vae(tmp_path / "a")
    assert isinstance(loaded.cfg, VAEConfig) and loaded.cfg == TINY and not loaded.training
    mel = torch.randn(2, 64, 32) - 5.0
    with torch.no_grad():
        assert torch.equal(loaded.decode(loaded.encode(mel)), in_memory.decode(in_memory.encode(mel)))
