"""Instrument detectors: shapes at any length, gradients to the mel, the soundfont filter,
deterministic batches, metrics, a few training steps through soundtrack.train, export/load."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from soundtrack.data.cache import CorpusArrays
from soundtrack.data.families import FAMILY_NAMES
from soundtrack.errors import InputError
from soundtrack.models.instruments import (CLASSIFIER_CONFIGS, JUDGE_CONFIGS, AugmentConfig, InstrumentBatches,
                                           InstrumentClassifier, InstrumentJudge, InstrumentStage, JudgeStage,
                                           instrument_metrics, load_instrument_classifier, load_instrument_judge,
                                           soundfont_indices)
from soundtrack.training_stages import get_stage

MODELS = [(InstrumentClassifier, CLASSIFIER_CONFIGS["tiny"]), (InstrumentJudge, JUDGE_CONFIGS["tiny"])]
SOUNDFONT_OF = ["timgm6mb", "fluidr3", "fluidr3", "timgm6mb", "fluidr3", "timgm6mb", "timgm6mb", "fluidr3"]


def _fake_arrays(n: int = 8, frames: int = 256) -> CorpusArrays:
    """A corpus split with only what the instrument stages read; item i has family i % 10 and
    every value of its music mel is 2 i - 5, so batches can be traced back to items."""
    instruments = torch.zeros(n, len(FAMILY_NAMES))
    instruments[torch.arange(n), torch.arange(n) % len(FAMILY_NAMES)] = 1.0
    mel = (2.0 * torch.arange(n, dtype=torch.float32)[:, None, None] - 5.0).expand(n, 64, frames).half()
    empty = torch.zeros(n, 0)
    return CorpusArrays(names=[f"{i:05d}" for i in range(n)],
                        labels=[{"soundfont": SOUNDFONT_OF[i % len(SOUNDFONT_OF)]} for i in range(n)],
                        music_mel=mel.contiguous(), sfx_mel=mel, mix_mel=mel, video=empty, thumbs=empty,
                        tempo=torch.zeros(n), key=torch.zeros(n, dtype=torch.int64),
                        mode=torch.zeros(n, dtype=torch.int64), instruments=instruments, events=empty, beats=empty)


@pytest.mark.parametrize("cls,cfg", MODELS, ids=["classifier", "judge"])
def test_logits_shape_at_any_length(cls, cfg) -> None:
    torch.manual_seed(0)
    model = cls(cfg).eval()
    for T in (128, 300, 1024):
        assert model(torch.randn(2, 64, T) - 5).shape == (2, len(FAMILY_NAMES))
    with pytest.raises(AssertionError):
        model(torch.randn(1, 64, 64))


@pytest.mark.parametrize("cls,cfg", MODELS, ids=["classifier", "judge"])
def test_gradient_reaches_input_mel_and_every_parameter(cls, cfg) -> None:
    torch.manual_seed(0)
    model = cls(cfg).eval()
    mel = (torch.randn(2, 64, 256) - 5).requires_grad_()
    torch.sigmoid(model(mel))[:, 3].sum().backward()
    assert mel.grad is not None and torch.isfinite(mel.grad).all() and mel.grad.abs().sum() > 0
    for name, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_soundfont_filter_selects_only_that_soundfont() -> None:
    arrays = _fake_arrays()
    assert soundfont_indices(arrays, "timgm6mb").tolist() == [0, 3, 5, 6]
    assert soundfont_indices(arrays, "fluidr3").tolist() == [1, 2, 4, 7]
    with pytest.raises(InputError):
        soundfont_indices(arrays, "sgm")
    for stage, allowed in ((InstrumentStage(), {0, 3, 5, 6}), (JudgeStage(), {1, 2, 4, 7})):
        data = InstrumentBatches(stage.config("tiny"), arrays, device="cpu")
        seen = set()
        for step in range(20):
            b = data.batch(step=step, rank=0, world=1, seed=0)
            assert b["music_mel"].shape == (4, 64, 128)
            # gain is at most 6 dB = 0.69 in ln < 1, so the item index rounds back out of the mel
            items = ((b["music_mel"].mean(dim=(1, 2)) + 5.0) / 2).round().long().tolist()
            seen.update(items)
            torch.testing.assert_close(b["instruments"], arrays.instruments[items])
        assert seen == allowed, f"{seen=}"


def test_batches_draw_from_every_soundfont_of_the_config_and_from_re_renders() -> None:
    arrays = _fake_arrays()
    both = dataclasses.replace(JUDGE_CONFIGS["tiny"], more_soundfonts=("timgm6mb",))
    n_re = 3  # a re-render: values 2 i - 5 for i = 20, 21, 22, family i % 10
    rerender = {"music_mel": (2.0 * torch.arange(20, 20 + n_re)[:, None, None] - 5.0).expand(n_re, 64, 256).half(),
                "instruments": torch.eye(len(FAMILY_NAMES))[torch.arange(20, 20 + n_re) % len(FAMILY_NAMES)]}
    other = dataclasses.replace(CLASSIFIER_CONFIGS["tiny"], soundfont="musescore")
    for cfg, rerenders, allowed in ((both, None, set(range(8))), (other, {"musescore": rerender}, {20, 21, 22})):
        data = InstrumentBatches(cfg, arrays, device="cpu", rerenders=rerenders)
        seen = set()
        for step in range(30):
            b = data.batch(step=step, rank=0, world=1, seed=0)
            items = ((b["music_mel"].mean(dim=(1, 2)) + 5.0) / 2).round().long()
            seen.update(items.tolist())
            torch.testing.assert_close(b["instruments"], torch.eye(len(FAMILY_NAMES))[items % len(FAMILY_NAMES)])
        assert seen == allowed, f"{seen=}"
    with pytest.raises(InputError, match="rerender"):
        InstrumentBatches(other, arrays, device="cpu")  # no corpus item and no re-render of musescore


def test_the_bundled_judge_and_snio_classifier_hear_no_soundfont_in_common() -> None:
    """Issue 4: the judge is trained on audio rendered through other soundfonts than SNIO's classifier."""
    from soundtrack.pipeline import checkpoint_root

    root = checkpoint_root(None)
    heard = {}
    for name in ("instruments", "instruments-judge"):
        cfg = json.loads((root / name / "config.json").read_text())
        heard[name] = {cfg["soundfont"], *cfg.get("more_soundfonts", ())}
    assert heard["instruments"].isdisjoint(heard["instruments-judge"]), heard
    assert heard["instruments-judge"] == {"timgm6mb", "fluidr3"}  # both soundfonts of the corpus


def test_batches_are_deterministic_and_augmented() -> None:
    data = InstrumentBatches(CLASSIFIER_CONFIGS["tiny"], _fake_arrays(), device="cpu")
    a = data.batch(step=3, rank=0, world=1, seed=0)
    b = data.batch(step=3, rank=0, world=1, seed=0)
    c = data.batch(step=4, rank=0, world=1, seed=0)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    assert not torch.equal(a["music_mel"], c["music_mel"])
    offsets = a["music_mel"].mean(dim=(1, 2)) + 5.0  # 2 i + gain
    gains = offsets - 2 * (offsets / 2).round()  # the random gain, ln units
    assert gains.abs().max() <= 6 * math.log(10) / 20 + 1e-3 and gains.abs().max() > 0
    assert a["music_mel"].min() >= math.log(1e-5) - 1e-6


def test_full_augmentation_mixes_labels_and_keeps_the_floor() -> None:
    """Every augmentation on: shapes, the value floor, determinism, and mixed crops carry the
    union of both items' families (each fake item has exactly one)."""
    base = CLASSIFIER_CONFIGS["tiny"]
    aug = AugmentConfig(crop=96, gain_db=6.0, eq_db=6.0, shift_bins=1.5, stretch=1.2, mix_prob=1.0)
    data = InstrumentBatches(dataclasses.replace(base, aug=aug), _fake_arrays(), device="cpu")
    a = data.batch(step=0, rank=0, world=1, seed=0)
    b = data.batch(step=0, rank=0, world=1, seed=0)
    torch.testing.assert_close(a["music_mel"], b["music_mel"], rtol=0, atol=0)
    assert a["music_mel"].shape == (4, 64, 96) and torch.isfinite(a["music_mel"]).all()
    assert a["music_mel"].min() >= math.log(1e-5) - 1e-6
    n = a["instruments"].sum(dim=1)
    assert ((n >= 1) & (n <= 2)).all(), f"{n=}"


def test_metrics_on_known_detections() -> None:
    targets = torch.tensor([[1, 1, 0, 0], [0, 1, 0, 1]], dtype=torch.float32)
    probs = torch.tensor([[0.9, 0.2, 0.6, 0.1], [0.1, 0.7, 0.3, 0.8]])
    m = instrument_metrics(probs, targets)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["fpr"] == pytest.approx(1 / 4)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["item_recall"] == pytest.approx((1 / 2 + 1) / 2)
    assert m["exact"] == pytest.approx(1 / 2)
    assert m["auc"] == pytest.approx(1.0)  # every family's positives outscore its negatives
    assert instrument_metrics(probs, targets, threshold=0.05)["recall"] == 1.0


@pytest.mark.parametrize("stage_name,loader", [("instruments", load_instrument_classifier),
                                               ("instruments-judge", load_instrument_judge)])
def test_stage_trains_exports_and_loads(stage_name, loader, tmp_path: Path, monkeypatch) -> None:
    """A few steps of the real loop on the fake corpus; the exported model loads and matches."""
    from soundtrack import train as train_mod
    from soundtrack.models import instruments

    arrays = _fake_arrays(n=16)
    monkeypatch.setattr("soundtrack.data.cache.load_split", lambda corpus, split, **kw: arrays)
    run = tmp_path / stage_name
    record = train_mod.train(stage_name, "tiny", run_dir=run, corpus=tmp_path, max_steps=6, progress=False)
    assert record["step"] == 6 and {"bce", "recall", "fpr"} <= set(record) and math.isfinite(record["loss"])
    model = loader(run)
    stage = get_stage(stage_name)
    assert not model.training
    with pytest.raises(InputError):
        loader(tmp_path / "missing")
    torch.manual_seed(0)
    fresh = stage.build(stage.config("tiny"))
    state = torch.load(run / "last.pt", weights_only=True)["model"]
    fresh.load_state_dict(state)
    mel = arrays.music_mel[:2].float()
    torch.testing.assert_close(model(mel), fresh.eval()(mel))
    result = instruments.evaluate_split({"m": model}, arrays)
    assert set(result["m"]) == {"all", "timgm6mb", "fluidr3"}


def test_build_is_seeded_by_the_config() -> None:
    """Init depends on the config's seed (0 classifier, 1 judge), not on the global RNG."""
    stage = InstrumentStage()
    torch.manual_seed(123)
    a = stage.build(stage.config("tiny"))
    torch.manual_seed(456)
    b = stage.build(stage.config("tiny"))
    for (name, p), q in zip(a.named_parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)
