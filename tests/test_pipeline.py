"""The generation pipeline on tiny random runs: shapes, seeding, the step callback, and
one-line validation errors for the controls."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from soundtrack.errors import InputError
from soundtrack.pipeline import CLIP_SAMPLES, Controls, generate_clip, load_models, video_inputs


def export_tiny_runs(root: Path) -> dict[str, Path]:
    """Random-init tiny runs, exported as the training loop does: {"vae", "vocoder", "cvsm",
    "ldm", "ldm_nosdma", "instruments", "judge"} -> run directory (the keys of
    soundtrack.evaluate.DEFAULT_RUNS)."""
    import dataclasses

    from soundtrack.models import cvsm, instruments, ldm, vae, vocoder
    from soundtrack.train import export

    torch.manual_seed(0)
    # no attention at full resolution: self-attention over a whole clip's 256 x 32 patches
    # costs ~1.6 s per UNet call on one CPU thread (the small config has none there either)
    ldm_cfg = dataclasses.replace(ldm.CONFIGS["tiny"], attention_levels=(False, True))
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
    }
    runs = {}
    for name, (model, cfg) in built.items():
        runs[name] = root / name
        runs[name].mkdir(parents=True)
        export(model, cfg, runs[name])
    return runs


def export_tiny_checkpoints(root: Path) -> Path:
    """Tiny random runs in the bundled layout (checkpoints/{vae,vocoder,cvsm,ldm,ldm-nosdma})."""
    runs = export_tiny_runs(root / "runs")
    ckpt = root / "checkpoints"
    ckpt.mkdir()
    folders = {"ldm_nosdma": "ldm-nosdma", "judge": "instruments-judge"}
    for name, run in runs.items():
        run.rename(ckpt / folders.get(name, name))
    return ckpt


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    runs = export_tiny_runs(tmp_path_factory.mktemp("runs"))
    return load_models(vae_run=runs["vae"], vocoder_run=runs["vocoder"], cvsm_run=runs["cvsm"],
                       ldm_run=runs["ldm"])


def _inputs(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    video = torch.rand(256, 14, generator=g)  # (256, 14)
    thumbs = torch.randint(0, 256, (256, 3, 32, 32), generator=g, dtype=torch.uint8)
    return video, thumbs


CONTROLS = Controls(instruments={"piano": 1.0, "drums": 0.5}, tempo_bpm=100, key="D", mode="minor",
                    intensity=0.9)


def test_generate_clip_shapes_seeding_and_callback(models):
    video, thumbs = _inputs()
    calls: list[int] = []
    a = generate_clip(models, video=video, thumbs=thumbs, controls=CONTROLS, seed=3, steps=3,
                      callback=lambda info: calls.append(info["i"]))
    assert calls == [0, 1, 2]
    assert len(a.timings["step"]) == 3 and a.timings["total"] > 0
    for wave in (a.music, a.sfx):
        assert wave.shape == (CLIP_SAMPLES,) and wave.dtype == np.float32 and np.isfinite(wave).all()
    assert a.duration_s == pytest.approx(10.24)
    assert a.music_mel.shape == a.sfx_mel.shape == (64, 1024)
    assert a.latents.shape == (1, 8, 256, 32)
    assert not np.array_equal(a.music, a.sfx)

    b = generate_clip(models, video=video, thumbs=thumbs, controls=CONTROLS, seed=3, steps=3)
    assert np.array_equal(a.music, b.music) and np.array_equal(a.sfx, b.sfx)
    c = generate_clip(models, video=video, thumbs=thumbs, controls=CONTROLS, seed=4, steps=3)
    assert not np.array_equal(a.music, c.music)


def test_generate_clip_rejects_bad_inputs(models):
    video, thumbs = _inputs()
    with pytest.raises(InputError, match="video features"):
        generate_clip(models, video=video[:100], thumbs=thumbs, controls=CONTROLS, seed=0, steps=1)
    with pytest.raises(InputError, match="steps"):
        generate_clip(models, video=video, thumbs=thumbs, controls=CONTROLS, seed=0, steps=0)


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


def test_controls_normalise_and_from_labels():
    c = Controls(instruments={"strings": 0.5}, key="bb", mode="Minor", tempo_bpm=90)
    assert c.key == 10 and c.mode == "minor"
    assert c.instruments["strings"] == 0.5 and c.instruments["piano"] == 0.0 and len(c.instruments) == 10
    labels = {"instruments": ["bass", "drums"], "tempo_bpm": 128.1, "key": "D", "mode": "minor",
              "intensity": 0.868}
    d = Controls.from_labels(labels)
    t = d.tensors()
    assert t["instruments"].shape == (1, 10) and float(t["instruments"].sum()) == 2.0
    assert int(t["key"]) == 2 and int(t["mode"]) == 1 and float(t["tempo"]) == pytest.approx(128.1)


def test_video_inputs_match_the_corpus_cache(tiny_corpus):
    from soundtrack.data.cache import load_split

    arrays = load_split(tiny_corpus, "test", progress=False)
    path = tiny_corpus / "test" / arrays.names[0] / "video.mp4"
    video, thumbs = video_inputs(path)
    assert video.shape == (256, 14) and thumbs.shape == (256, 3, 32, 32) and thumbs.dtype == torch.uint8
    assert torch.allclose(video, arrays.video[0]) and torch.equal(thumbs, arrays.thumbs[0])
    later, _ = video_inputs(path, start_s=5.0)  # runs past the end: edge-padded
    assert later.shape == (256, 14)
    with pytest.raises(InputError, match="start_s"):
        video_inputs(path, start_s=60.0)


def test_heard_frames_is_the_part_of_a_window_the_take_keeps():
    from soundtrack.data.cache import MEL_FRAMES
    from soundtrack.pipeline import heard_frames

    assert heard_frames(5.31, 0.0) == 531  # Big Buck Bunny's 5.31 s in one 10.24 s window
    assert heard_frames(10.24, 0.0) == heard_frames(30.0, 7.68) == MEL_FRAMES
    assert heard_frames(19.0, 15.36) == 364
