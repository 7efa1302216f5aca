"""The seed-configuration benchmark: fields, scaling and the full-size UNet's parameter count."""
from __future__ import annotations

import pytest

from soundtrack.evaluation.bench_seed import (
    CONFIGS,
    MUSICLDM_LATENT,
    OUR_LATENT,
    seed_baseline,
    seed_baseline_for_duration,
    unet_param_count,
    windows_for,
)
from soundtrack.errors import InputError

FIELDS = {"unet_params_m", "cfg_step_s", "steps", "seconds_per_clip", "latent_shape", "threads"}


def test_tiny_config_runs_and_reports_every_field():
    r = seed_baseline(config="tiny", latent_shape=(1, 8, 32, 16), steps=7, repeats=2, threads=1)
    assert set(r) == FIELDS
    for k in ("unet_params_m", "cfg_step_s", "steps", "seconds_per_clip", "threads"):
        assert r[k] > 0, k
    assert r["steps"] == 7
    assert r["threads"] == 1
    assert r["latent_shape"] == [1, 8, 32, 16]
    assert r["seconds_per_clip"] == pytest.approx(r["cfg_step_s"] * 7)


def test_threads_are_restored():
    import torch

    before = torch.get_num_threads()
    seed_baseline(config="tiny", latent_shape=(1, 8, 16, 16), steps=1, repeats=1, threads=2)
    assert torch.get_num_threads() == before


def test_duration_scales_by_whole_windows_without_overlap():
    assert windows_for(10.24) == 1
    assert windows_for(10.25) == 2
    assert windows_for(20.48) == 2
    assert windows_for(7 * 10.24) == 7  # 71.68 / 10.24 is 7.000000000000001 in floats
    assert windows_for(3.0) == 1
    assert windows_for(60.0) == 6
    base = seed_baseline(config="tiny", latent_shape=(1, 8, 16, 16), steps=4, repeats=1)
    r = seed_baseline_for_duration(30.0, base=base)
    assert r["windows"] == 3 and r["duration_s"] == 30.0
    assert r["seconds_total"] == pytest.approx(3 * base["seconds_per_clip"])
    with pytest.raises(InputError):
        windows_for(0)


def test_full_size_unet_is_musicldm_sized():
    """MusicLDM's UNet (RetroCirce/MusicLDM musicldm.yaml through diffusers' conversion mapping)
    counts 185,036,552 parameters here: the AudioLDM-S-sized UNet, inside the 100-200 M range
    expected for MusicLDM. Counted on the meta device, so no memory and no timing."""
    cfg = CONFIGS["musicldm"]
    assert cfg["block_out_channels"] == (128, 256, 384, 640)
    assert cfg["cross_attention_dim"] == cfg["block_out_channels"]
    assert cfg["projection_class_embeddings_input_dim"] == 512
    n = unet_param_count("musicldm")
    assert 100e6 < n < 200e6
    assert n == pytest.approx(185.04e6, rel=0.005)


def test_latent_shapes_and_bad_input():
    assert OUR_LATENT == (1, 8, 256, 32) and MUSICLDM_LATENT == (1, 8, 256, 16)
    with pytest.raises(InputError):
        seed_baseline(config="nope")
    with pytest.raises(InputError):
        seed_baseline(config="tiny", latent_shape=(1, 4, 16, 16))
    with pytest.raises(InputError):
        seed_baseline(config="tiny", latent_shape=(8, 16, 16))
