"""The score engine end to end on tiny random runs: notes on the grid and in the key, rendered in
stereo, music.mid beside the stems, re-orchestration without regeneration, one-line errors."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from soundtrack.errors import InputError
from soundtrack.music.theory import SCALES
from soundtrack.pipeline import Settings, SoundtrackPipeline, reorchestrate_take
from tests.test_pipeline import export_tiny_checkpoints

SETTINGS = dict(tempo=120.0, instruments={"piano": 1.0, "strings": 0.6, "drums": 1.0}, key="D", mode="minor",
                steps=2, snio_iters=1, seed=0)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    return export_tiny_checkpoints(tmp_path_factory.mktemp("score-ckpt"))


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    from soundtrack.evaluation.bench import procedural_video

    return procedural_video(tmp_path_factory.mktemp("score-video") / "clip.mp4", 3.0)


@pytest.fixture(scope="module")
def take(ckpt, video):
    pipe = SoundtrackPipeline.bundled(ckpt, engine="score", soundfont="timgm6mb")
    assert pipe.engine == "score"
    return pipe(video, Settings(**SETTINGS))


def test_a_score_take_is_notes_on_the_grid_in_the_key(take):
    score = take.score
    assert score is not None and take.report["engine"] == "score"
    assert score.n_notes > 0 and set(score.families) <= {"piano", "strings", "drums"}
    scale = {(2 + s) % 12 for s in SCALES["minor"]}  # D minor
    for part in score.parts:
        for n in part.notes:
            pos = float(take.grid.positions(np.array([n.start]))[0])
            assert abs(4 * pos - round(4 * pos)) < 1e-6, (part.family, n)  # on a sixteenth
            assert 0.0 <= n.start < n.end <= take.duration_s + 1e-9
            if not part.is_drums:
                assert n.pitch % 12 in scale, (part.family, n)
    assert take.report["score"]["soundfont"] == "timgm6mb"


def test_the_render_is_stereo_at_48k_and_the_mix_keeps_its_promises(take):
    mix = take.mix
    assert mix.sr == 48_000 and take.music48.shape == (2, round(take.duration_s * 48_000))
    assert mix.music.shape == mix.mix.shape
    assert np.abs(mix.music[0] - mix.music[1]).max() > 1e-4  # not mono
    assert mix.mix_dbtp <= -1.0 + 1e-3
    assert take.music16.shape == (round(take.duration_s * 16_000),)


def test_music_mid_is_written_beside_the_stems(take, video, tmp_path):
    import pretty_midi

    from soundtrack.output import write_take

    paths = write_take(take, tmp_path / "out", video=video)
    assert "music.mid" in paths and json.loads(paths["report.json"].read_text())["files"][3] == "music.mid"
    midi = pretty_midi.PrettyMIDI(str(paths["music.mid"]))
    _, tempi = midi.get_tempo_changes()
    assert tempi[0] == pytest.approx(120.0, abs=0.01)
    assert sorted(i.name for i in midi.instruments) == sorted(take.score.families)
    assert sum(len(i.notes) for i in midi.instruments) == take.score.n_notes


def test_reorchestration_replays_the_same_notes_on_other_families(take):
    piano = take.score.part("piano")
    assert piano is not None
    moved = reorchestrate_take(take, {"piano": "brass"})
    assert "brass" in moved.score.families and "piano" not in moved.score.families
    assert moved.score.part("brass").notes == piano.notes
    assert not np.allclose(moved.mix.music, take.mix.music)
    assert moved.report["reorchestrated"] == {"piano": "brass"} and moved.snio_offsets is take.snio_offsets
    with pytest.raises(InputError, match="no guitar part"):
        reorchestrate_take(take, {"guitar": "brass"})
    with pytest.raises(InputError, match="unknown instrument family"):
        reorchestrate_take(take, {"piano": "kazoo"})


def test_a_neural_take_has_no_notes_to_reorchestrate(ckpt, video):
    pipe = SoundtrackPipeline.bundled(ckpt, engine="neural")
    take = pipe(video, Settings(**{**SETTINGS, "snio_iters": 0}))
    assert take.score is None and take.report["engine"] == "neural"
    with pytest.raises(InputError, match="neural engine"):
        reorchestrate_take(take, {"piano": "brass"})


def test_generate_refuses_an_unknown_soundfont_in_one_line_and_writes_nothing(ckpt, video, tmp_path, capsys):
    from soundtrack.cli import main

    out = tmp_path / "out"
    rc = main([str(video), "--out", str(out), "--engine", "score", "--soundfont", "nope",
               "--checkpoints", str(ckpt), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.startswith("error: ") and "\n" not in err and "nope" in err
    assert not out.exists()


def test_an_unknown_engine_is_refused(ckpt):
    with pytest.raises(InputError, match="unknown engine"):
        SoundtrackPipeline.bundled(ckpt, engine="midi")


def test_a_missing_score_model_is_one_line_naming_the_training_command(ckpt, tmp_path):
    """A model folder with everything but the score model names the command that trains it (and the
    engine that works); an empty one names its first missing stage."""
    from soundtrack.pipeline import load_bundled

    (tmp_path / "no-score").mkdir()
    for run in ckpt.iterdir():
        if run.name not in ("score", "score-nosdma"):
            (tmp_path / "no-score" / run.name).symlink_to(run)
    with pytest.raises(InputError, match="score engine has no trained model.*--config score-small") as e:
        load_bundled(tmp_path / "no-score", ldm="score")
    assert str(e.value).endswith("; --engine neural works now") and "\n" not in str(e.value)
    with pytest.raises(InputError, match="no trained vae"):
        load_bundled(tmp_path / "empty", ldm="score")
