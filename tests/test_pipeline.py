"""The generation pipeline on tiny random runs: shapes, seeding, the step callback, and
one-line validation errors for the controls."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from soundtrack.errors import InputError
from soundtrack.config import TIMING, GenerationConfig
from soundtrack.music.beatgrid import BeatGrid, frame_times
from soundtrack.pipeline import (LATENT_SHAPE, Controls, Settings, UpdateKind, WindowInputs, WindowOutput,
                                 generate_window, load_models)
from soundtrack.sampling.scores import Scorer


def export_tiny_runs(root: Path) -> dict[str, Path]:
    """Random-init tiny runs, exported as the training loop does: {"vae", "vocoder", "cvsm",
    "ldm", "ldm_nosdma", "instruments", "judge"} -> run directory (the keys of
    soundtrack.evaluation.ablations.RUN_STAGES), and "score", "score_nosdma" (the score engine's model and
    its ablation)."""
    import dataclasses

    from soundtrack.models import cvsm, instruments, ldm, vae, vocoder
    from soundtrack.training.loop import export

    torch.manual_seed(0)
    # no attention at full resolution: self-attention over a whole clip's 256 x 32 patches
    # costs ~1.6 s per UNet call on one CPU thread (the small config has none there either)
    ldm_cfg = dataclasses.replace(ldm.CONFIGS["tiny"], attention_levels=(False, True))
    score_cfg = dataclasses.replace(ldm.CONFIGS["score-tiny"], attention_levels=(False, True))
    built = {
        "vae": (vae.MelVAE(vae.CONFIGS["tiny"]), vae.CONFIGS["tiny"]),
        "vocoder": (vocoder.Vocoder(vocoder.CONFIGS["tiny"]), vocoder.CONFIGS["tiny"]),
        "cvsm": (cvsm.CVSM(cvsm.CONFIGS["tiny"]), cvsm.CONFIGS["tiny"]),
        "ldm": (ldm.SoundtrackLDM(ldm_cfg), ldm_cfg),
        "ldm_nosdma": (ldm.SoundtrackLDM(dataclasses.replace(ldm_cfg, sdma=False)),
                       dataclasses.replace(ldm_cfg, sdma=False)),
        "instruments": (instruments.InstrumentClassifier(instruments.CLASSIFIER_CONFIGS["tiny"]),
                        instruments.CLASSIFIER_CONFIGS["tiny"]),
        "judge": (instruments.InstrumentJudge(instruments.JUDGE_CONFIGS["tiny"]), instruments.JUDGE_CONFIGS["tiny"]),
        "score": (ldm.SoundtrackLDM(score_cfg), score_cfg),  # the score engine's model (music_stem="roll")
        "score_nosdma": (ldm.SoundtrackLDM(dataclasses.replace(score_cfg, sdma=False)),
                         dataclasses.replace(score_cfg, sdma=False)),
    }
    runs = {}
    for name, (model, cfg) in built.items():
        runs[name] = root / name
        runs[name].mkdir(parents=True)
        export(model, cfg, runs[name])
    return runs


def export_tiny_checkpoints(root: Path) -> Path:
    """Tiny random runs in the bundled layout (checkpoints/{vae,vocoder,cvsm,ldm,ldm-nosdma,score,...})."""
    runs = export_tiny_runs(root / "runs")
    ckpt = root / "checkpoints"
    ckpt.mkdir()
    folders = {"ldm_nosdma": "ldm-nosdma", "score_nosdma": "score-nosdma", "judge": "instruments-judge"}
    for name, run in runs.items():
        run.rename(ckpt / folders.get(name, name))
    return ckpt


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    runs = export_tiny_runs(tmp_path_factory.mktemp("runs"))
    return load_models(vae_run=runs["vae"], vocoder_run=runs["vocoder"], cvsm_run=runs["cvsm"],
                       ldm_run=runs["ldm"])


def _inputs(seed: int = 0) -> WindowInputs:
    g = np.random.default_rng(seed)
    grid = BeatGrid(bpm=100.0, first_beat_s=0.0)
    return WindowInputs(features=g.random((256, 14), dtype=np.float32),
                        thumbs=g.integers(0, 256, (256, 3, 32, 32), dtype=np.uint8),
                        beat_pos=grid.positions(frame_times(256)).astype(np.float32), events_s=(1.0, 4.5))


SETTINGS = Settings(tempo=100, instruments={"piano": 1.0, "drums": 0.5}, key="D", mode="minor", intensity=0.9,
                    steps=3, snio_iters=1)
CONTROLS = SETTINGS.controls(100.0)


def _window(models, *, seed: int, **kw) -> tuple[list, WindowOutput]:
    """Run the one window function to its end: (the updates it yielded, its output)."""
    noise = torch.randn(LATENT_SHAPE, generator=torch.Generator().manual_seed(seed))
    gen = generate_window(models, Scorer(cvsm=models.cvsm), GenerationConfig(), inputs=_inputs(),
                          settings=SETTINGS, controls=CONTROLS, noise=noise, **kw)
    updates = []
    while True:
        try:
            updates.append(next(gen))
        except StopIteration as stop:
            return updates, stop.value


def test_one_window_shapes_seeding_and_ticks(models):
    ticks: list[int] = []
    updates, a = _window(models, seed=3, tick=lambda: ticks.append(1) or len(ticks) / 5)
    assert len(ticks) == SETTINGS.steps + SETTINGS.snio_iters + 1  # every sampler step and SNIO iteration
    assert [u.kind for u in updates] == [UpdateKind.SNIO] * (SETTINGS.snio_iters + 1)
    assert a.wave.shape == (2, TIMING.clip_samples) and a.wave.dtype == np.float32
    assert np.isfinite(a.wave).all()
    assert a.music_mel.shape == a.sfx_mel.shape == (1, 64, 1024)
    assert a.z.shape == a.offset.shape == LATENT_SHAPE
    assert a.report["events"] == 2 and a.report["heard_s"] == pytest.approx(10.24)
    assert not np.array_equal(a.wave[0], a.wave[1])
    _, b = _window(models, seed=3)
    assert np.array_equal(a.wave, b.wave)  # same seed, same inputs: identical stems
    _, c = _window(models, seed=4)
    assert not np.array_equal(a.wave, c.wave)
    _, d = _window(models, seed=3, prev=a.z)  # continuing a window: the overlap is held (snio.md eq. 12)
    assert not np.array_equal(a.wave, d.wave)


@pytest.mark.parametrize("kwargs, message", [
    ({"tempo_bpm": 500}, "tempo_bpm must be between 60 and 180"),
    ({"instruments": {"piano": math.nan}}, "weight of piano"),
    ({"instruments": {"kazoo": 1.0}}, "unknown instrument family 'kazoo'"),
    ({"mode": "lydian"}, "mode must be 'major' or 'minor'"),
    ({"key": "H"}, "unknown key"),
    ({"key": 12}, "pitch class"),
    ({"intensity": 0.1}, "intensity"),
    ({"tempo_bpm": "fast"}, "tempo_bpm must be a number"),
])
def test_controls_validation_is_one_line(kwargs, message):
    with pytest.raises(InputError, match=message) as err:
        Controls(**{"instruments": {"piano": 1.0}, **kwargs})
    assert "\n" not in str(err.value)


def test_controls_normalise_and_settings_from_labels():
    c = Controls(instruments={"strings": 0.5}, key="bb", mode="Minor", tempo_bpm=90)
    assert c.key == 10 and c.mode == "minor"
    assert c.instruments["strings"] == 0.5 and c.instruments["piano"] == 0.0 and len(c.instruments) == 10
    labels = {"instruments": ["bass", "drums"], "tempo_bpm": 128.1, "key": "D", "mode": "minor",
              "intensity": 0.5}
    s = Settings.from_labels(labels, seed=7, steps=4)
    assert s.intensity == 0.6 and s.seed == 7 and s.steps == 4  # clipped to the controls' range
    t = s.controls(s.tempo).tensors()
    assert t["instruments"].shape == (1, 10) and float(t["instruments"].sum()) == 2.0
    assert int(t["key"]) == 2 and int(t["mode"]) == 1 and float(t["tempo"]) == pytest.approx(128.1)


def test_the_plans_window_inputs_match_the_corpus_cache(tiny_corpus):
    from soundtrack.corpus.cache import load_split
    from soundtrack.video.plan import prepare_video

    arrays = load_split(tiny_corpus, "test", progress=False)
    plan = prepare_video(tiny_corpus / "test" / arrays.names[0] / "video.mp4")
    video, thumbs = plan.window_inputs(plan.windows[0])
    assert video.shape == (256, 14) and thumbs.shape == (256, 3, 32, 32) and thumbs.dtype == np.uint8
    assert np.allclose(video, arrays.video[0].numpy()) and np.array_equal(thumbs, arrays.thumbs[0].numpy())


def test_heard_frames_is_the_part_of_a_window_the_take_keeps():
    from soundtrack.pipeline import heard_frames

    assert heard_frames(5.31, 0.0) == 531  # Big Buck Bunny's 5.31 s in one 10.24 s window
    assert heard_frames(10.24, 0.0) == heard_frames(30.0, 7.68) == TIMING.mel_frames
    assert heard_frames(19.0, 15.36) == 364
