"""The two-stem latent-diffusion model and its training stage, on tiny configs."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from soundtrack.models import ldm
from soundtrack.models.ldm import (CONFIGS, Conditions, SoundtrackLDM, cfg_dropout, join_stems, load_ldm,
                                   split_stems)
from soundtrack.models.sdma import EFFECT, MUSIC, uses_sdma

TINY = CONFIGS["tiny"]


def controls(batch: int, frames: int, *, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "video_tokens": torch.randn(batch, frames, TINY.video_dim, generator=g),
        "instruments": (torch.rand(batch, 10, generator=g) > 0.5).float(),
        "tempo": torch.full((batch,), 110.0), "key": torch.arange(batch) % 12,
        "mode": torch.arange(batch) % 2,
        "intensity": torch.full((batch,), 0.8),
    }


@pytest.fixture(scope="module")
def tiny_runs(tmp_path_factory) -> tuple[Path, Path]:
    """Random-init tiny VAE and CVSM runs, exported as the training loop would."""
    from soundtrack.models import cvsm, vae
    from soundtrack.train import export

    root = tmp_path_factory.mktemp("runs")
    torch.manual_seed(0)
    vae_cfg, cvsm_cfg = vae.CONFIGS["tiny"], cvsm.CONFIGS["tiny"]
    (root / "vae").mkdir()
    (root / "cvsm").mkdir()
    export(vae.MelVAE(vae_cfg), vae_cfg, root / "vae")
    export(cvsm.CVSM(cvsm_cfg), cvsm_cfg, root / "cvsm")
    assert cvsm_cfg.token_dim == TINY.video_dim, "tiny LDM and tiny CVSM disagree on the token width"
    return root / "vae", root / "cvsm"


def test_join_split_roundtrip():
    zm, zs = torch.randn(2, 8, 12, 16), torch.randn(2, 8, 12, 16)
    x = join_stems(zm, zs)
    assert x.shape == (2, 8, 12, 32)
    assert torch.equal(x[..., :16], zm) and torch.equal(x[..., 16:], zs)
    back = split_stems(x)
    assert torch.equal(back[0], zm) and torch.equal(back[1], zs)


def test_conditions_layout_and_forward():
    torch.manual_seed(0)
    model = SoundtrackLDM(TINY).eval()
    assert uses_sdma(model.unet)
    B, Tl = 2, 16
    cond = model.encode_conditions(**controls(B, Tl))
    n_music, n_effect = TINY.n_music_tokens, Tl // 4
    assert cond.aligned.shape == (B, TINY.c_in, Tl)
    assert cond.tokens.shape == (B, n_music + n_effect, TINY.cross_attention_dim)
    assert cond.token_types.tolist() == [MUSIC] * n_music + [EFFECT] * n_effect
    with torch.no_grad():
        out = model(torch.randn(B, 8, Tl, 32), torch.tensor([10, 900]), cond)
    assert out.shape == (B, 8, Tl, 32)
    assert model.controller.grid is None, "controller state must not outlive the call"


def test_cfg_dropout_replaces_tokens_with_null():
    torch.manual_seed(0)
    model = SoundtrackLDM(TINY).eval()
    B, Tl = 3, 16
    n_music = TINY.n_music_tokens
    with torch.no_grad():
        cond = model.encode_conditions(**controls(B, Tl), drop_music=torch.tensor([True, False, True]),
                                       drop_video=torch.tensor([False, True, True]))
        null = model.null_conditions(batch=B, frames=Tl)
        kept = model.encode_conditions(**controls(B, Tl))
    # row 0: music dropped, video kept
    assert torch.equal(cond.tokens[0, :n_music], null.tokens[0, :n_music])
    assert torch.equal(cond.tokens[0, n_music:], kept.tokens[0, n_music:])
    assert torch.equal(cond.aligned[0], kept.aligned[0])
    # row 1: video dropped (aligned channels, effect tokens and the global video token)
    assert torch.equal(cond.tokens[1, n_music:], null.tokens[1, n_music:])
    assert torch.equal(cond.aligned[1], null.aligned[1])
    assert torch.equal(cond.tokens[1, n_music - 1], null.tokens[1, n_music - 1])
    assert torch.equal(cond.tokens[1, : n_music - 1], kept.tokens[1, : n_music - 1])
    # row 2: both dropped = the null condition used by CFG at sampling
    assert torch.equal(cond.tokens[2], null.tokens[2]) and torch.equal(cond.aligned[2], null.aligned[2])
    both = Conditions.cat([kept, null])
    assert both.batch_size == 2 * B


def test_cfg_dropout_rates():
    torch.manual_seed(0)
    music, video = cfg_dropout(200_000, p_music=0.1, p_video=0.1, p_both=0.05)
    assert float((music & video).float().mean()) == pytest.approx(0.05, abs=0.005)
    assert float((music & ~video).float().mean()) == pytest.approx(0.10, abs=0.005)
    assert float((video & ~music).float().mean()) == pytest.approx(0.10, abs=0.005)


def test_train_tiny_writes_model(tiny_corpus, tiny_runs, tmp_path, monkeypatch):
    from soundtrack.train import train

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
    stage = ldm.LDMStage()
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


def test_beat_grid_channels_start_at_zero_and_drop_with_the_music():
    torch.manual_seed(0)
    model = SoundtrackLDM(TINY).eval()
    B, Tl = 2, 16
    pos = torch.arange(Tl).float().expand(B, -1) / 12.5  # 120 BPM
    with torch.no_grad():
        plain = model.encode_conditions(**controls(B, Tl))
        fresh = model.encode_conditions(**controls(B, Tl), beat_pos=pos)
        assert torch.equal(plain.aligned, fresh.aligned), "zero-initialised: a fine-tune starts where it was"
        torch.nn.init.normal_(model.beat.weight)
        gridded = model.encode_conditions(**controls(B, Tl), beat_pos=pos,
                                          drop_music=torch.tensor([False, True]))
    assert not torch.allclose(gridded.aligned[0], plain.aligned[0])
    assert torch.equal(gridded.aligned[1], plain.aligned[1]), "the grid is a music condition"
    old = SoundtrackLDM(dataclasses.replace(TINY, beat_grid=False))
    assert not hasattr(old, "beat")  # runs made before the grid load unchanged


def test_fine_tune_starts_from_another_runs_weights(tiny_corpus, tiny_runs, tmp_path, monkeypatch):
    import json

    from safetensors.torch import load_file

    from soundtrack.errors import InputError
    from soundtrack.train import train

    vae_run, cvsm_run = tiny_runs
    base = dataclasses.replace(TINY, vae_run=str(vae_run), cvsm_run=str(cvsm_run))
    monkeypatch.setitem(ldm.CONFIGS, "tiny", dataclasses.replace(base, beat_grid=False))
    train("ldm", "tiny", run_dir=tmp_path / "old", corpus=tiny_corpus, max_steps=2, progress=False)
    monkeypatch.setitem(ldm.CONFIGS, "tiny", base)
    train("ldm", "tiny", run_dir=tmp_path / "ft", corpus=tiny_corpus, max_steps=1, progress=False,
          overrides={"init": str(tmp_path / "old"), "lr": 1e-12, "new_lr_scale": 1e9})
    first = json.loads((tmp_path / "ft" / "train.log").read_text().splitlines()[0])
    assert first["new_parameters"] == ["beat.bias", "beat.weight"]
    old, new = load_file(tmp_path / "old" / "model.safetensors"), load_file(tmp_path / "ft" / "model.safetensors")
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
    stage = ldm.LDMStage()
    data = stage.data(cfg, corpus=tiny_corpus, device=torch.device("cpu"))
    batch = data.batch(step=0, rank=0, world=1, seed=0)
    torch.manual_seed(0)
    model = SoundtrackLDM(cfg)
    losses = {}
    for w in (1.0, 20.0):
        stage.cfg = dataclasses.replace(cfg, high_noise_weight=w)
        torch.manual_seed(3)  # the same t, noise and dropout draws
        loss, logs = stage.loss(model, batch, step=0)
        losses[w] = (float(loss), logs["mse_music"], logs["mse_sfx"])
    plain, weighted = losses[1.0], losses[20.0]
    assert plain[0] == pytest.approx((plain[1] + plain[2]) / 2, rel=1e-5)  # weight 1 is the plain MSE
    assert plain[0] < weighted[0] <= 20 * plain[0] + 1e-6
    assert weighted[1:] == plain[1:]  # the logged MSEs stay unweighted
