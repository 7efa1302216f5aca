"""The `cvsm` training stage: the stage contract, deterministic batches and runs, the loss
falling through the real loop, and the retrieval protocol (eq. 8) on the trained model."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from soundtrack.corpus.cache import load_split
from soundtrack.errors import InputError
from soundtrack.evaluation.retrieval import _recall, retrieval
from soundtrack.models.cvsm import CONFIGS, load_cvsm
from soundtrack.training.cvsm import CVSMStage
from soundtrack.training.loop import train

TINY = CONFIGS["tiny"]


@pytest.fixture(scope="module")
def trained_run(tiny_corpus, tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("cvsm_run")
    train("cvsm", "tiny", run_dir=run, corpus=tiny_corpus, max_steps=30, progress=False)
    return run


def test_recall_protocol():
    z = torch.nn.functional.normalize(torch.randn(11, 8), dim=-1)
    assert _recall(z, z, n=4) == {1: 1.0, 5: 1.0}  # own item always first
    r = _recall(z, z.roll(1, dims=0), n=4)  # own key elsewhere: ranks vary, R@5 covers all 4
    assert 0.0 <= r[1] <= r[5] == 1.0


def test_training_loss_decreases(trained_run):
    log = [json.loads(line) for line in (trained_run / "train.log").read_text().splitlines()]
    assert len(log) == 30 and log[-1]["step"] == 30
    losses = [r["loss"] for r in log]
    assert all(torch.isfinite(torch.tensor(losses)))
    assert sum(losses[-5:]) / 5 < sum(losses[:5]) / 5 - 0.3, losses
    assert {"local", "clip_video_music", "temperature"} <= set(log[-1])
    assert (trained_run / "model.safetensors").is_file()


def test_retrieval_numbers(trained_run, tiny_corpus):
    arrays = load_split(tiny_corpus, "train")
    model = load_cvsm(trained_run)
    r = retrieval(model, arrays, n_candidates=6)
    assert r["n_candidates"] == 6 and r["chance_r1"] == pytest.approx(1 / 6)
    for name in ("video_music", "video_effects", "music_video"):
        assert 0.0 <= r[f"{name}_r1"] <= r[f"{name}_r5"] <= 1.0
    everything = retrieval(model, arrays)  # fewer items than n_candidates: all items compete
    assert everything["n_candidates"] == len(arrays)


def test_stage_contract_and_determinism(tiny_corpus, tmp_path):
    stage = CVSMStage()
    with pytest.raises(InputError):
        stage.config("huge")
    with pytest.raises(InputError):
        stage.data(TINY, corpus=None, device="cpu")
    data = stage.data(TINY, corpus=tiny_corpus, device="cpu")
    a = data.batch(step=4, rank=0, world=1, seed=7)
    b = data.batch(step=4, rank=0, world=1, seed=7)
    c = data.batch(step=4, rank=1, world=2, seed=7)
    assert a["music_mel"].shape == (TINY.train.batch_size, 64, 1024) and a["thumbs"].dtype == torch.uint8
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["music_mel"], c["music_mel"])
    runs = [tmp_path / "a", tmp_path / "b"]
    for run in runs:
        train("cvsm", "tiny", run_dir=run, corpus=tiny_corpus, max_steps=3, seed=5, progress=False)
    wa, wb = (load_file(str(r / "model.safetensors")) for r in runs)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
