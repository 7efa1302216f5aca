"""The instrument stages: the soundfont filter, deterministic and augmented batches, a few
training steps through the real loop, export/load, and the evaluation command."""
from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest
import torch

from soundtrack.corpus.cache import CorpusArrays
from soundtrack.errors import InputError
from soundtrack.models.instruments import (CLASSIFIER_CONFIGS, JUDGE_CONFIGS, AugmentConfig,
                                           InstrumentClassifier, InstrumentJudge, load_instrument_classifier,
                                           load_instrument_judge)
from soundtrack.music.families import FAMILY_NAMES
from soundtrack.training import instruments
from soundtrack.training.instruments import InstrumentBatches, InstrumentStage, JudgeStage, soundfont_indices
from soundtrack.training.loop import export, train
from soundtrack.training.stages import get_stage

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
                        mode=torch.zeros(n, dtype=torch.int64), instruments=instruments, events=empty,
                        beats=empty)


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
    values = 2.0 * torch.arange(20, 20 + n_re)[:, None, None] - 5.0  # (n_re, 1, 1)
    rerender = {"music_mel": values.expand(n_re, 64, 256).half(),
                "instruments": torch.eye(len(FAMILY_NAMES))[torch.arange(20, 20 + n_re) % len(FAMILY_NAMES)]}
    other = dataclasses.replace(CLASSIFIER_CONFIGS["tiny"], soundfont="musescore")
    cases = ((both, None, set(range(8))), (other, {"musescore": rerender}, {20, 21, 22}))
    for cfg, rerenders, allowed in cases:
        data = InstrumentBatches(cfg, arrays, device="cpu", rerenders=rerenders)
        seen = set()
        for step in range(30):
            b = data.batch(step=step, rank=0, world=1, seed=0)
            items = ((b["music_mel"].mean(dim=(1, 2)) + 5.0) / 2).round().long()
            seen.update(items.tolist())
            expected = torch.eye(len(FAMILY_NAMES))[items % len(FAMILY_NAMES)]  # (B, 10)
            torch.testing.assert_close(b["instruments"], expected)
        assert seen == allowed, f"{seen=}"
    with pytest.raises(InputError, match="rerender"):
        InstrumentBatches(other, arrays, device="cpu")  # no corpus item and no re-render of musescore


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


@pytest.mark.parametrize("stage_name,loader", [("instruments", load_instrument_classifier),
                                               ("instruments-judge", load_instrument_judge)])
def test_stage_trains_exports_and_loads(stage_name, loader, tmp_path: Path, monkeypatch) -> None:
    """A few steps of the real loop on the fake corpus; the exported model loads and matches."""
    arrays = _fake_arrays(n=16)
    monkeypatch.setattr(instruments, "load_split", lambda corpus, split, **kw: arrays)
    run = tmp_path / stage_name
    record = train(stage_name, "tiny", run_dir=run, corpus=tmp_path, max_steps=6, progress=False)
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


def test_eval_command_prints_both_models_per_soundfont(tmp_path: Path, monkeypatch, capsys) -> None:
    """`python -m soundtrack.training.instruments eval`: both runs scored on a split, as JSON
    and as a table; a missing run is a one-line error naming the command that trains it."""
    arrays = _fake_arrays(n=16, frames=128)
    monkeypatch.setattr(instruments, "load_split", lambda corpus, split, **kw: arrays)
    torch.manual_seed(0)
    for name, model, cfg in (("c", InstrumentClassifier, CLASSIFIER_CONFIGS["tiny"]),
                             ("j", InstrumentJudge, JUDGE_CONFIGS["tiny"])):
        (tmp_path / name).mkdir()
        export(model(cfg), cfg, tmp_path / name)
    args = ["eval", "--corpus", str(tmp_path), "--classifier", str(tmp_path / "c"),
            "--judge", str(tmp_path / "j")]
    assert instruments.main([*args, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result) == {"classifier", "judge"} and set(result["judge"]) == {"all", "timgm6mb", "fluidr3"}
    assert result["classifier"]["all"]["n"] == 16
    assert instruments.main(args) == 0
    assert "classifier  all" in capsys.readouterr().out
    assert instruments.main([*args[:-1], str(tmp_path / "missing")]) == 2
    assert "python -m soundtrack.training instruments-judge" in capsys.readouterr().err
