"""The `ldm` training stage on tiny configs: CFG dropout rates, the corpus encoded once and
cached, deterministic crops, training through the real loop, fine-tuning, the loss weighting,
and the benchmark."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from soundtrack.errors import InputError
from soundtrack.models import cvsm, ldm, vae
from soundtrack.models.ldm import CONFIGS, SoundtrackLDM, load_ldm
from soundtrack.models.sdma import uses_sdma
from soundtrack.training.ldm import LDMStage, benchmark, cfg_dropout
from soundtrack.training.loop import export, train

TINY = CONFIGS["tiny"]


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Random-init tiny VAE and CVSM runs, exported as the training loop would."""
    root = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    vae_cfg, cvsm_cfg = vae.CONFIGS["tiny"], cvsm.CONFIGS["tiny"]
    (root / "vae").mkdir()
    (root / "cvsm").mkdir()
    export(vae.MelVAE(vae_cfg), vae_cfg, root / "vae")
    export(cvsm.CVSM(cvsm_cfg), cvsm_cfg, root / "cvsm")
    assert cvsm_cfg.token_dim == TINY.video_dim, "tiny LDM and tiny CVSM disagree on the token width"
    return root / "vae", root / "cvsm"


def test_cfg_dropout_rates():
    torch.manual_seed(0)
    music, video = cfg_dropout(200_000, p_music=0.1, p_video=0.1, p_both=0.05)
    assert float((music & video).float().mean()) == pytest.approx(0.05, abs=0.005)
    assert float((music & ~video).float().mean()) == pytest.approx(0.10, abs=0.005)
    assert float((video & ~music).float().mean()) == pytest.approx(0.10, abs=0.005)


def test_train_tiny_writes_model(tiny_corpus, tiny_runs, tmp_path, monkeypatch):
    vae_run, cvsm_run = tiny_runs
    cfg = dataclasses.replace(TINY, vae_run=str(vae_run), cvsm_run=str(cvsm_run))
    monkeypatch.setitem(ldm.CONFIGS, "tiny", cfg)
    record = train("ldm", "tiny", run_dir=tmp_path / "ldm", corpus=tiny_corpus, max_steps=3, progress=False)
    assert record["step"] == 3 and record["loss"] == record["loss"]  # not NaN
    assert (tmp_path / "ldm" / "model.safetensors").is_file()
    assert list((tiny_corpus / "cache").glob("ldm-latents-train-*.safetensors"))
    model = load_ldm(tmp_path / "ldm")
    assert model.cfg == cfg
    assert float(model.latent_scale) != 1.0  # 1/std of the corpus latents travelled with the weights
    assert float(model.silence.abs().sum()) > 0

    # the plain-attention ablation trains on the same cached latents
    monkeypatch.setitem(ldm.CONFIGS, "tiny", dataclasses.replace(cfg, sdma=False))
    record = train("ldm", "tiny", run_dir=tmp_path / "ldm-nosdma", corpus=tiny_corpus, max_steps=2,
                   progress=False)
    assert record["step"] == 2
    assert not uses_sdma(load_ldm(tmp_path / "ldm-nosdma").unet)


def test_batches_are_deterministic(tiny_corpus, tiny_runs, monkeypatch):
    vae_run, cvsm_run = tiny_runs
    cfg = dataclasses.replace(TINY, vae_run=str(vae_run), cvsm_run=str(cvsm_run))
    stage = LDMStage()
    data = stage.data(cfg, corpus=tiny_corpus, device=torch.device("cpu"))
    a = data.batch(step=5, rank=0, world=1, seed=1)
    b = data.batch(step=5, rank=0, world=1, seed=1)
    c = data.batch(step=6, rank=0, world=1, seed=1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["z_music"], c["z_music"])
    crop = cfg.crop_latent_frames
    assert a["z_music"].shape == (cfg.train.batch_size, 8, crop, 16)
    assert a["video_tokens"].shape == (cfg.train.batch_size, crop, cfg.video_dim)
    assert (a["frame0"] % 4 == 0).all()
    assert a["beat_pos"].shape == (cfg.train.batch_size, crop)
    steps = a["beat_pos"].diff(dim=1)  # beats per latent frame: the item's tempo / 60 * 0.04 s
    torch.testing.assert_close(steps, (a["tempo"] / 60 * 0.04)[:, None].expand_as(steps), atol=0.02, rtol=0)


def test_fine_tune_starts_from_another_runs_weights(tiny_corpus, tiny_runs, tmp_path, monkeypatch):
    vae_run, cvsm_run = tiny_runs
    base = dataclasses.replace(TINY, vae_run=str(vae_run), cvsm_run=str(cvsm_run))
    monkeypatch.setitem(ldm.CONFIGS, "tiny", dataclasses.replace(base, beat_grid=False))
    train("ldm", "tiny", run_dir=tmp_path / "old", corpus=tiny_corpus, max_steps=2, progress=False)
    monkeypatch.setitem(ldm.CONFIGS, "tiny", base)
    train("ldm", "tiny", run_dir=tmp_path / "ft", corpus=tiny_corpus, max_steps=1, progress=False,
          overrides={"init": str(tmp_path / "old"), "lr": 1e-12, "new_lr_scale": 1e9})
    first = json.loads((tmp_path / "ft" / "train.log").read_text().splitlines()[0])
    assert first["new_parameters"] == ["beat.bias", "beat.weight"]
    old = load_file(tmp_path / "old" / "model.safetensors")
    new = load_file(tmp_path / "ft" / "model.safetensors")
    for k in old:
        if k not in ("latent_scale", "silence"):
            torch.testing.assert_close(new[k], old[k], atol=1e-6, rtol=0, msg=k)
    assert float(new["beat.weight"].abs().max()) > 1e-4, "the new parameters learn at lr * new_lr_scale"
    assert json.loads((tmp_path / "ft" / "config.json").read_text())["train"]["init"] == str(tmp_path / "old")
    # a run of another shape is not an ancestor
    monkeypatch.setitem(ldm.CONFIGS, "tiny", dataclasses.replace(base, c_in=2))
    with pytest.raises(InputError, match="does not fit this model"):
        train("ldm", "tiny", run_dir=tmp_path / "bad", corpus=tiny_corpus, max_steps=1, progress=False,
              overrides={"init": str(tmp_path / "old")})


def test_high_noise_weight_raises_the_loss_of_noisy_steps_only(tiny_corpus, tiny_runs):
    vae_run, cvsm_run = tiny_runs
    cfg = dataclasses.replace(TINY, vae_run=str(vae_run), cvsm_run=str(cvsm_run))
    stage = LDMStage()
    data = stage.data(cfg, corpus=tiny_corpus, device=torch.device("cpu"))
    batch = data.batch(step=0, rank=0, world=1, seed=0)
    torch.manual_seed(0)
    model = SoundtrackLDM(cfg)
    losses = {}
    for w in (1.0, 20.0):
        stage.cfg = dataclasses.replace(cfg, high_noise_weight=w)
        torch.manual_seed(3)  # the same t, noise and dropout draws
        loss, logs = stage.loss(model, batch, step=0)
        losses[w] = (float(loss.detach()), logs["mse_music"], logs["mse_sfx"])
    plain, weighted = losses[1.0], losses[20.0]
    assert plain[0] == pytest.approx((plain[1] + plain[2]) / 2, rel=1e-5)  # weight 1 is the plain MSE
    assert plain[0] < weighted[0] <= 20 * plain[0] + 1e-6
    assert weighted[1:] == plain[1:]  # the logged MSEs stay unweighted


def test_benchmark_times_a_config():
    timings = benchmark(TINY, repeats=1, frames=16)
    assert {"params_M", "train_s_per_step", "infer_s_per_call", "threads"} <= set(timings)
    assert timings["params_M"] > 0 and timings["train_s_per_step"] > 0 and timings["infer_s_per_call"] > 0
