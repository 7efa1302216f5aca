"""Run folders: `load_run` reads a run back (or names the command that makes it), the bundled
folders' table, and the layering of soundtrack/models (issue 16: it imports downwards only)."""
from __future__ import annotations

import ast
import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from soundtrack.errors import InputError
from soundtrack.models import checkpoint
from soundtrack.models.checkpoint import CHECKPOINTS, FOLDERS, checkpoint_root, load_run, run_folder
from soundtrack.models.vocoder import CONFIGS, Vocoder, VocoderConfig, load_vocoder

MODELS = Path(checkpoint.__file__).resolve().parent
HIGHER = ("soundtrack.corpus", "soundtrack.training", "soundtrack.evaluation", "soundtrack.studio",
          "soundtrack.pipeline")


def _write_run(run: Path, model: torch.nn.Module, cfg) -> None:
    """What the training loop's export writes, without importing the training package."""
    run.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(run / "model.safetensors"))
    (run / "config.json").write_text(json.dumps(dataclasses.asdict(cfg)))


def test_load_run_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    cfg = CONFIGS["tiny"]
    model = Vocoder(cfg).eval()
    _write_run(tmp_path, model, cfg)
    loaded = load_run(Vocoder, VocoderConfig, tmp_path, stage="vocoder")
    assert isinstance(loaded, Vocoder) and loaded.cfg == cfg and not loaded.training
    mel = torch.randn(1, 64, 11) - 5.0  # (B, 64, F)
    with torch.no_grad():
        assert torch.equal(loaded(mel), model(mel))
        assert torch.equal(load_vocoder(tmp_path)(mel), model(mel))


def test_missing_run_names_the_training_command(tmp_path: Path) -> None:
    command = r"\(python -m soundtrack\.training vocoder\)$"
    with pytest.raises(InputError, match=r"^no trained vocoder in .*" + command):
        load_vocoder(tmp_path / "nothing")
    with pytest.raises(InputError, match=r"^no the thing in "):
        load_run(Vocoder, VocoderConfig, tmp_path, stage="vocoder", name="the thing")


def test_checkpoint_root_and_run_folders(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("SOUNDTRACK_CHECKPOINTS", raising=False)
    assert checkpoint_root() == CHECKPOINTS == Path(__file__).resolve().parents[2] / "checkpoints"
    monkeypatch.setenv("SOUNDTRACK_CHECKPOINTS", str(tmp_path))  # read at call time
    assert checkpoint_root() == tmp_path and run_folder("ldm-nosdma") == tmp_path / "ldm-nosdma"
    assert run_folder("vae", tmp_path / "other") == tmp_path / "other" / "vae"
    assert set(FOLDERS) == {"vae", "vocoder", "cvsm", "ldm", "ldm-nosdma", "score", "score-nosdma",
                            "instruments", "instruments-judge", "instruments-indep"}
    with pytest.raises(KeyError):
        run_folder("nope")


def test_the_bundled_model_has_every_folder() -> None:
    """Every folder but the score engine's, whose model is not bundled yet (issue 17): asking for
    it is one line naming its training command (tests/test_score_engine.py)."""
    for stage, folder in FOLDERS.items():
        if stage.startswith("score"):
            assert not (CHECKPOINTS / folder).exists() or (CHECKPOINTS / folder / "config.json").is_file()
            continue
        assert (CHECKPOINTS / folder / "config.json").is_file(), stage
        assert (CHECKPOINTS / folder / "model.safetensors").is_file(), stage


def test_models_import_nothing_above_them() -> None:
    """No module of soundtrack/models imports the corpus, training, evaluation, studio or
    pipeline packages, at module level or inside a function."""
    found = []
    for path in sorted(MODELS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            found += [f"{path.name}:{node.lineno} {name}" for name in names
                      if any(name == h or name.startswith(h + ".") for h in HIGHER)]
    assert not found, found
