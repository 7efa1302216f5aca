"""The seed configuration's cost: a MusicLDM-sized UNet, 200 DDIM steps, classifier-free guidance.

`python -m soundtrack bench` compares the project against the paper's released code, a
MusicLDM/AudioLDM-style pipeline. That pipeline's time is almost all UNet: every DDIM step
runs the UNet once on a batch of 2 (conditional + unconditional, CFG), 200 steps per 10.24 s
window, windows back to back with no overlap. This module measures one such CFG step on a
randomly initialised UNet of the same architecture (weights do not change the FLOPs) and
multiplies out.

Where the numbers come from
---------------------------
The UNet is MusicLDM's, as released in `RetroCirce/MusicLDM`, `interface/musicldm.yaml`
(`model.params.unet_config.params`):

    in_channels 8, out_channels 8, model_channels 128, channel_mult [1, 2, 3, 5],
    num_res_blocks 2, attention_resolutions [8, 4, 2], num_head_channels 32,
    use_spatial_transformer true, extra_film_condition_dim 512, extra_film_use_concat true,
    (no context_dim / cross_attention_dim key)

and the same values are hard-coded as `DEFAULT_CONFIG` in diffusers'
`scripts/convert_original_musicldm_to_diffusers.py`. That script's
`create_unet_diffusers_config` maps them onto `UNet2DConditionModel`, which is what
`ucsd-reach/musicldm`'s `unet/config.json` holds (the hub file itself was not readable here;
the mapping below is the script's, and it matches the published AudioLDM `unet/config.json`
files of the same family, e.g. `cvssp/audioldm-l-full`, field for field except widths):

- block_out_channels = 128 * [1, 2, 3, 5] = (128, 256, 384, 640);
- layers_per_block = num_res_blocks = 2;
- down blocks: resolution 1 is not in attention_resolutions, 2/4/8 are ->
  ("DownBlock2D", "CrossAttnDownBlock2D" x3); up blocks mirrored
  ("CrossAttnUpBlock2D" x3, "UpBlock2D"); mid block UNetMidBlock2DCrossAttn (default);
- cross_attention_dim = block_out_channels = (128, 256, 384, 640): there is no
  cross_attention_dim in the yaml, so the script falls back to the block widths. MusicLDM
  does not cross-attend to text; the pipeline calls the UNet with `encoder_hidden_states=None`
  (diffusers `MusicLDMPipeline.__call__`), so the "cross" attention attends to the feature map
  itself (a second self-attention per transformer block);
- the CLAP embedding (512-d) enters through FiLM: class_embed_type "simple_projection",
  projection_class_embeddings_input_dim 512, class_embeddings_concat True (the projected
  embedding is concatenated to the 512-d time embedding, so the resnets see a 1024-d vector);
- attention_head_dim 8: the script does not set it, so diffusers' default 8 applies (which
  diffusers reads as 8 *heads*; the original has 32-channel heads, i.e. 4/8/12/20 heads). The
  head split changes neither the parameter count nor the FLOPs of attention;
- sample_size 256 (image_size 1024 // VAE factor 4); it does not affect the forward.

Sampling defaults (`interface/musicldm.yaml`, `evaluation_params`): ddim_sampling_steps 200,
unconditional_guidance_scale 2.0; diffusers' `MusicLDMPipeline` also defaults to
`num_inference_steps=200`, `guidance_scale=2.0` and batches the two CFG branches
(`torch.cat([latents] * 2)`).

Latent shapes: MusicLDM's own latent for 10.24 s is (1, 8, 256, 16) (`latent_t_size 256`,
`latent_f_size 16` in the yaml: 1024 mel frames / 4, 64 mel bins / 4). Ours is two stems side
by side, (1, 8, 256, 32) (`soundtrack.models.ldm`). The default measures the seed UNet on
ours (the cost of running the seed pipeline at our output size); MUSICLDM_LATENT gives the
seed pipeline's native cost.

Size: the full-size UNet built this way has 185,036,552 parameters (185.0 M,
`unet_param_count()`), inside the 100-200 M expected for MusicLDM. It is the AudioLDM-S UNet
(same widths, blocks and 512-d FiLM input; `cvssp/audioldm` lists the whole audioldm-s-full
pipeline, UNet + CLAP + VAE + vocoder, at 421 M). The AudioLDM paper's AudioLDM-S figure is
recalled as ~181 M, not re-checked here; the count above is what this code measures.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time

import torch

from soundtrack.errors import InputError

WINDOW_S = 10.24  # one MusicLDM clip: 1024 mel frames at 100 frames/s
OUR_LATENT = (1, 8, 256, 32)  # music + effects stems side by side (soundtrack.models.ldm)
MUSICLDM_LATENT = (1, 8, 256, 16)  # MusicLDM's latent_t_size x latent_f_size
SEED_STEPS = 200  # ddim_sampling_steps (musicldm.yaml) = MusicLDMPipeline default
SEED_GUIDANCE = 2.0  # unconditional_guidance_scale (musicldm.yaml); not used by the timing
FILM_DIM = 512  # extra_film_condition_dim: the CLAP embedding

_MUSICLDM_WIDTHS = (128, 256, 384, 640)
_TINY_WIDTHS = (32, 64)

CONFIGS: dict[str, dict] = {
    # MusicLDM's UNet as diffusers builds it (see the module docstring for each number).
    "musicldm": dict(
        sample_size=256,
        in_channels=8,
        out_channels=8,
        down_block_types=("DownBlock2D",) + ("CrossAttnDownBlock2D",) * 3,
        up_block_types=("CrossAttnUpBlock2D",) * 3 + ("UpBlock2D",),
        block_out_channels=_MUSICLDM_WIDTHS,
        layers_per_block=2,
        cross_attention_dim=_MUSICLDM_WIDTHS,
        attention_head_dim=8,
        class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=FILM_DIM,
        class_embeddings_concat=True,
    ),
    # Same wiring, toy widths: for tests.
    "tiny": dict(
        sample_size=32,
        in_channels=8,
        out_channels=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        block_out_channels=_TINY_WIDTHS,
        layers_per_block=1,
        cross_attention_dim=_TINY_WIDTHS,
        attention_head_dim=4,
        norm_num_groups=8,
        class_embed_type="simple_projection",
        projection_class_embeddings_input_dim=16,
        class_embeddings_concat=True,
    ),
}


def _config(config: str) -> dict:
    if config not in CONFIGS:
        raise InputError(f"unknown seed config {config!r} (choose from {', '.join(CONFIGS)})")
    return dict(CONFIGS[config])


def build_seed_unet(config: str = "musicldm", *, device: str | torch.device | None = None):
    """The seed UNet with random weights (torch.manual_seed(0)); `device="meta"` allocates nothing."""
    from diffusers import UNet2DConditionModel

    kwargs = _config(config)
    torch.manual_seed(0)
    if device is None:
        return UNet2DConditionModel(**kwargs).eval()
    with torch.device(device):
        return UNet2DConditionModel(**kwargs).eval()


def unet_param_count(config: str = "musicldm") -> int:
    """Parameters of the seed UNet, counted on the meta device (no memory, no init time)."""
    return sum(p.numel() for p in build_seed_unet(config, device="meta").parameters())


def _check_shape(latent_shape) -> tuple[int, int, int, int]:
    shape = tuple(int(s) for s in latent_shape)
    if len(shape) != 4 or min(shape) < 1:
        raise InputError(f"latent_shape must be 4 positive ints (B, C, T, F), got {latent_shape!r}")
    return shape


def seed_baseline(
    *,
    latent_shape=OUR_LATENT,
    steps: int = SEED_STEPS,
    repeats: int = 3,
    threads: int | None = None,
    config: str = "musicldm",
) -> dict:
    """Time one CFG step of the seed pipeline and multiply by `steps`.

    One CFG step = one UNet forward on a batch of 2 (conditional + unconditional) at
    `latent_shape` (whose batch entry is per branch: (1, ...) -> a forward on (2, ...)), with
    the FiLM embedding as `class_labels` and no encoder states, under no_grad. One warm-up
    forward, then the median of `repeats` timed forwards. `threads` sets torch's intra-op
    threads for the measurement (restored afterwards); None keeps the current setting.

    Returns {"unet_params_m", "cfg_step_s", "steps", "seconds_per_clip", "latent_shape",
    "threads"}; seconds_per_clip covers one WINDOW_S (10.24 s) window.
    """
    shape = _check_shape(latent_shape)
    if steps < 1 or repeats < 1:
        raise InputError(f"steps and repeats must be >= 1, got steps={steps}, repeats={repeats}")
    if threads is not None and threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")
    cfg = _config(config)
    if shape[1] != cfg["in_channels"]:
        raise InputError(
            f"latent_shape has {shape[1]} channels; the {config} UNet takes {cfg['in_channels']}"
        )

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        n_threads = torch.get_num_threads()
        unet = build_seed_unet(config)
        params = sum(p.numel() for p in unet.parameters())
        gen = torch.Generator().manual_seed(0)
        b = 2 * shape[0]  # conditional + unconditional
        x = torch.randn((b, *shape[1:]), generator=gen)
        t = torch.full((b,), 500, dtype=torch.long)
        film = torch.randn((b, cfg["projection_class_embeddings_input_dim"]), generator=gen)
        film[: shape[0]] = 0.0  # the unconditional branch's embedding

        def step() -> float:
            t0 = time.perf_counter()
            unet(x, t, encoder_hidden_states=None, class_labels=film, return_dict=False)
            return time.perf_counter() - t0

        with torch.no_grad():
            step()  # warm-up
            times = [step() for _ in range(repeats)]
    finally:
        torch.set_num_threads(old_threads)

    cfg_step_s = statistics.median(times)
    return {
        "unet_params_m": params / 1e6,
        "cfg_step_s": cfg_step_s,
        "steps": steps,
        "seconds_per_clip": cfg_step_s * steps,
        "latent_shape": list(shape),
        "threads": n_threads,
    }


def windows_for(seconds: float) -> int:
    """Number of back-to-back 10.24 s windows the seed pipeline needs for `seconds` of audio."""
    if not seconds > 0:
        raise InputError(f"duration must be > 0 s, got {seconds}")
    return max(1, math.ceil(round(seconds / WINDOW_S, 9)))  # round: (7 * 10.24) / 10.24 is not exactly 7


def seed_baseline_for_duration(seconds: float, *, base: dict | None = None, **kwargs) -> dict:
    """The seed pipeline's time for `seconds` of audio: ceil(seconds / 10.24) windows, no overlap.

    `base` is a result of :func:`seed_baseline` to scale (no new timing); otherwise
    seed_baseline(**kwargs) is measured. Returns `base`'s fields plus "duration_s", "windows"
    and "seconds_total" (= seconds_per_clip * windows).
    """
    n = windows_for(seconds)
    if base is None:
        base = seed_baseline(**kwargs)
    elif kwargs:
        raise InputError("pass either base or seed_baseline arguments, not both")
    return {**base, "duration_s": float(seconds), "windows": n, "seconds_total": base["seconds_per_clip"] * n}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m soundtrack.evaluation.bench_seed",
                                description=__doc__.splitlines()[0])
    p.add_argument("--latent", choices=("ours", "musicldm"), default="ours",
                   help="ours: (1, 8, 256, 32); musicldm: (1, 8, 256, 16)")
    p.add_argument("--steps", type=int, default=SEED_STEPS)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--config", choices=tuple(CONFIGS), default="musicldm")
    p.add_argument("--seconds", type=float, default=None, help="scale to this duration")
    a = p.parse_args(argv)
    shape = OUR_LATENT if a.latent == "ours" else MUSICLDM_LATENT
    try:
        r = seed_baseline(
            latent_shape=shape, steps=a.steps, repeats=a.repeats, threads=a.threads, config=a.config
        )
        if a.seconds is not None:
            r = seed_baseline_for_duration(a.seconds, base=r)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
