"""The `ldm` training stage: the corpus encoded once by the frozen VAE and CVSM, random crops
of its latents, classifier-free-guidance dropout and the denoising loss (docs/method/sdma.md).

- :func:`encode_corpus`: every train item's music and effects latents and CVSM video tokens,
  cached in `corpus/cache/ldm-latents-SPLIT-DIGEST.safetensors` (the digest covers the VAE
  and CVSM weights, so a retrained one re-encodes);
- :class:`LDMStage`: batch k is a crop of `crop_latent_frames` at a random start on the
  effect-token grid; the loss is the epsilon (or v) MSE at a random DDPM step, weighted by
  min(1/alpha_bar_t, `high_noise_weight`) (eq. 13b), with the conditions dropped as
  :func:`cfg_dropout` draws them (eq. 13);
- :func:`benchmark`: seconds per training step and per guided UNet call, on random data:
  `python -m soundtrack.training.ldm --config small`.

The model is soundtrack/models/ldm.py. Train with `python -m soundtrack.training ldm --config NAME`.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from soundtrack.config import AUDIO, TIMING, named_config
from soundtrack.corpus.cache import load_split, split_labels
from soundtrack.errors import InputError
from soundtrack.models.ldm import (CONFIGS, EFFECT_POOL, LATENT_CHANNELS, N_BINS, Conditions, LDMConfig,
                                   SoundtrackLDM, join_stems, noise_scheduler)
from soundtrack.music.beatgrid import frame_times, positions_from_beats
from soundtrack.music.families import N_FAMILIES

LATENT_CACHE_VERSION = 1


def _weights_digest(*runs: Path) -> str:
    h = hashlib.sha256(f"ldm-latents-v{LATENT_CACHE_VERSION}".encode())
    for run in runs:
        path = run / "model.safetensors"
        if not path.is_file():
            raise InputError(f"no trained model in {run} (missing {path.name}): train that stage first")
        with path.open("rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


@torch.no_grad()
def encode_corpus(cfg: LDMConfig, *, corpus: Path, split: str = "train",
                  progress: bool = True) -> dict[str, Tensor]:
    """The split's latents and video tokens under the frozen VAE and CVSM, cached in corpus/cache/.

    Returns unscaled float16 `music`, `sfx` (N, 8, 256, 16), `video` (N, 256, d), the controls,
    `scale` () = 1 / std of the latents and `silence` (8, 16) unscaled latent of a silent mel.
    """
    from safetensors.torch import load_file, save_file
    from tqdm import tqdm

    from soundtrack.models.cvsm import load_cvsm, video_tokens
    from soundtrack.models.vae import load_vae

    vae_run, cvsm_run = Path(cfg.vae_run), Path(cfg.cvsm_run)
    path = corpus / "cache" / f"ldm-latents-{split}-{_weights_digest(vae_run, cvsm_run)}.safetensors"
    if path.is_file():
        return load_file(os.fspath(path))
    arrays = load_split(corpus, split, progress=progress)
    vae, cvsm = load_vae(vae_run), load_cvsm(cvsm_run)
    out: dict[str, list[Tensor]] = {"music": [], "sfx": [], "video": []}
    chunk = 8
    for i in tqdm(range(0, len(arrays), chunk), desc=f"ldm latents {split}", unit="chunk",
                  disable=not progress):
        sl = slice(i, i + chunk)
        out["music"].append(vae.encode(arrays.music_mel[sl].float()).half())  # (b, 8, 256, 16), mode
        out["sfx"].append(vae.encode(arrays.sfx_mel[sl].float()).half())
        tokens = video_tokens(cvsm, arrays.video[sl].float(), arrays.thumbs[sl])  # (b, 256, d)
        out["video"].append(tokens.half())
    tensors = {k: torch.cat(v).contiguous() for k, v in out.items()}
    both = torch.cat([tensors["music"], tensors["sfx"]]).float()
    floor_mel = torch.full((1, AUDIO.n_mels, 64), math.log(AUDIO.log_floor))  # (1, 64, 64) silent log-mel
    tensors["scale"] = (1.0 / both.std()).reshape(())
    tensors["silence"] = vae.encode(floor_mel)[0].mean(1).float()  # (8, 16)
    tensors["instruments"] = arrays.instruments.float()
    tensors["tempo"], tensors["key"], tensors["mode"] = arrays.tempo.float(), arrays.key, arrays.mode
    tensors["intensity"] = torch.tensor([float(lab.get("intensity", 1.0)) for lab in arrays.labels])
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.part")  # two runs may encode at once
    save_file(tensors, os.fspath(tmp))
    os.replace(tmp, path)
    return tensors


def corpus_beat_positions(corpus: Path, split: str, *, frames: int) -> np.ndarray:
    """(N, frames) beat position of every latent frame of the split's items (sorted by name, the
    order of the latent cache), from the labels kept with the audio cache."""
    labels = split_labels(corpus, split)
    times = frame_times(frames)
    return np.stack([positions_from_beats(lab["beats"], lab["downbeats"], times, bpm=lab["tempo_bpm"])
                     for lab in labels])


class _LatentCrops:
    """Batch k: random crops of `crop_latent_frames` (same crop for music, sfx and video tokens)."""

    def __init__(self, cfg: LDMConfig, *, corpus: Path | None, device: torch.device) -> None:
        if corpus is None:
            raise InputError("the ldm stage needs a corpus (--corpus DIR)")
        self.cfg, self.device = cfg, device
        self.t = encode_corpus(cfg, corpus=corpus)
        n, frames, d = self.t["video"].shape
        if d != cfg.video_dim:
            raise InputError(f"the CVSM run {cfg.cvsm_run} gives {d}-wide tokens; the ldm config expects "
                             f"video_dim={cfg.video_dim}")
        assert frames >= cfg.crop_latent_frames, f"{frames=} shorter than {cfg.crop_latent_frames=}"
        self.n, self.frames = n, frames
        # eq. (2d): each item's beat grid from its labelled beats, in the latents' order
        self.beat_pos = torch.from_numpy(corpus_beat_positions(corpus, "train", frames=frames)).float()
        assert len(self.beat_pos) == n, f"{len(self.beat_pos)=} labels for {n=} latents"
        self.rolls: Tensor | None = None
        self.roll_gain = torch.ones(())
        if cfg.music_stem == "roll":  # the score engine: the music stem is each item's note roll
            from soundtrack.corpus.notes import split_rolls

            self.rolls = torch.from_numpy(split_rolls(corpus, "train", frames=frames))  # (N, 8, Tl, 16) int8
            assert len(self.rolls) == n, f"{len(self.rolls)=} rolls for {n=} latents"
            self.roll_gain = roll_energy_gain(self.t, self.rolls)

    def batch(self, *, step: int, rank: int, world: int, seed: int) -> dict[str, Tensor]:
        rng = np.random.default_rng([seed, step, rank])
        b, crop = self.cfg.train.batch_size, self.cfg.crop_latent_frames
        idx = torch.from_numpy(rng.integers(0, self.n, size=b))
        # crop starts on the effect-token grid, so pooled tokens cover the same frames as at inference
        start = rng.integers(0, (self.frames - crop) // EFFECT_POOL + 1, size=b) * EFFECT_POOL
        t, scale = self.t, self.t["scale"].float()

        def crop_of(a: Tensor, dim: int) -> Tensor:
            return torch.stack([a[i].narrow(dim, int(s), crop) for i, s in zip(idx, start)]).float()

        music = crop_of(t["music"], 1) * scale if self.rolls is None else crop_of(self.rolls, 1)
        batch = {
            "z_music": music,  # (B, 8, crop, 16): scaled latents, or the note roll in {-1, 1}
            "z_sfx": crop_of(t["sfx"], 1) * scale,
            "video_tokens": crop_of(t["video"], 0),  # (B, crop, d)
            "beat_pos": crop_of(self.beat_pos, 0),  # (B, crop)
            "frame0": torch.from_numpy(start).float(),
            "instruments": t["instruments"][idx], "tempo": t["tempo"][idx], "key": t["key"][idx],
            "mode": t["mode"][idx], "intensity": t["intensity"][idx],
            "latent_scale": scale.reshape(1).expand(b),
            "silence": (t["silence"].float() * scale)[None].expand(b, -1, -1),  # (B, 8, 16) scaled
            "roll_gain": self.roll_gain.reshape(1).expand(b),
        }
        return {k: v.to(self.device) for k, v in batch.items()}


def roll_energy_gain(latents: dict[str, Tensor], rolls: Tensor) -> Tensor:
    """() the gain g of score.md eq. (S5): the music latent's mean band energy over the corpus
    (from silence, scaled latents) over the roll's through the template, so that SDMA compares
    a roll's music band with the effects latent in the units the music latent had."""
    from soundtrack.music.score import roll_mel_template

    scale, silence = latents["scale"].float(), latents["silence"].float()
    e_latent = torch.stack([((m.float() * scale - silence[:, None] * scale) ** 2).mean()
                            for m in latents["music"].split(64)]).mean()
    W = torch.from_numpy(roll_mel_template())
    e_roll = torch.stack([torch.einsum("nctd,cdf->ntf", (r.float() + 1) ** 2, W).mean()
                          for r in rolls.split(64)]).mean()
    return (e_latent / e_roll).reshape(())


def cfg_dropout(batch_size: int, *, p_music: float, p_video: float, p_both: float,
                device: torch.device | None = None) -> tuple[Tensor, Tensor]:
    """(drop_music, drop_video) (B,) bool: music only w.p. p_music, video only p_video, both p_both."""
    u = torch.rand(batch_size, device=device)
    both = u < p_both
    music_only = (u >= p_both) & (u < p_both + p_music)
    video_only = (u >= p_both + p_music) & (u < p_both + p_music + p_video)
    return both | music_only, both | video_only


class LDMStage:
    """The `ldm` training stage (contract: soundtrack/training/stages.py)."""

    def __init__(self) -> None:
        self.cfg: LDMConfig | None = None

    def config(self, name: str) -> LDMConfig:
        return named_config(CONFIGS, name, what="ldm")

    def build(self, cfg: LDMConfig) -> SoundtrackLDM:
        self.cfg = cfg
        return SoundtrackLDM(cfg)

    def data(self, cfg: LDMConfig, *, corpus: Path | None, device: torch.device) -> _LatentCrops:
        self.cfg = cfg
        self.scheduler = noise_scheduler(cfg.prediction_type)
        return _LatentCrops(cfg, corpus=corpus, device=device)

    def loss(self, model: nn.Module, batch: dict[str, Tensor], *,
             step: int) -> tuple[Tensor, dict[str, float]]:
        cfg = self.cfg
        assert cfg is not None, "LDMStage.data must run before loss"
        x0 = join_stems(batch["z_music"], batch["z_sfx"])  # (B, 8, crop, 32)
        B = x0.shape[0]
        noise = torch.randn_like(x0)
        t = torch.randint(0, self.scheduler.config.num_train_timesteps, (B,), device=x0.device)
        x_t = self.scheduler.add_noise(x0, noise, t)  # eq. (3)
        target = noise if cfg.prediction_type == "epsilon" else self.scheduler.get_velocity(x0, noise, t)
        drop_music, drop_video = cfg_dropout(B, p_music=cfg.p_drop_music, p_video=cfg.p_drop_video,
                                             p_both=cfg.p_drop_both, device=x0.device)
        keys = ("video_tokens", "instruments", "tempo", "key", "mode", "intensity", "frame0", "beat_pos")
        controls = {k: batch[k] for k in keys if k in batch}
        stats = {"scale": batch["latent_scale"][0], "silence": batch["silence"][0]}
        if "roll_gain" in batch:
            stats["roll_gain"] = batch["roll_gain"][0]
        pred = model(x_t, t, {**controls, "drop_music": drop_music, "drop_video": drop_video},
                     latent_stats=stats)
        err = (pred.float() - target).pow(2)  # (B, 8, crop, 32)
        acp = self.scheduler.alphas_cumprod.to(x0.device)[t]  # (B,) alpha_bar_t
        weight = (1.0 / acp).clamp(max=cfg.high_noise_weight)  # (B,)
        loss = (weight[:, None, None, None] * err).mean()
        err = err.detach()
        return loss, {"mse_music": float(err[..., :N_BINS].mean()),
                      "mse_sfx": float(err[..., N_BINS:].mean())}


# ------------------------------------------------------------------------------------------ timing
def benchmark(cfg: LDMConfig, *, repeats: int = 8, frames: int = TIMING.latent_frames) -> dict[str, float]:
    """Seconds per training step (batch `cfg.train.batch_size` x crop) and per guided UNet call
    (2 rows: conditional + null, `frames` latent frames), on random data; the minimum over
    `repeats` (robust to other processes sharing the cores)."""
    import time

    torch.manual_seed(0)
    model, stage = SoundtrackLDM(cfg), LDMStage()
    stage.cfg, stage.scheduler = cfg, noise_scheduler(cfg.prediction_type)
    B, crop, d = cfg.train.batch_size, cfg.crop_latent_frames, cfg.video_dim
    ctl = {"instruments": torch.rand(B, N_FAMILIES), "tempo": torch.full((B,), 120.0),
           "key": torch.zeros(B, dtype=torch.long), "mode": torch.zeros(B, dtype=torch.long),
           "intensity": torch.ones(B)}
    z_shape = (B, LATENT_CHANNELS, crop, N_BINS)
    batch = {"z_music": torch.randn(z_shape), "z_sfx": torch.randn(z_shape),
             "video_tokens": torch.randn(B, crop, d), "frame0": torch.zeros(B), **ctl,
             "beat_pos": torch.arange(crop).float().expand(B, -1) / (TIMING.latent_fps / 2),  # 120 BPM
             "latent_scale": torch.ones(B), "silence": torch.zeros(B, LATENT_CHANNELS, N_BINS)}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    train_s = []
    for step in range(repeats):
        t0 = time.perf_counter()
        loss, _ = stage.loss(model, batch, step=step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        train_s.append(time.perf_counter() - t0)
    model.eval()
    infer_s = []
    with torch.no_grad():
        one = {k: v[:1] for k, v in ctl.items()}
        cond = model.encode_conditions(video_tokens=torch.randn(1, frames, d), **one)
        cond = Conditions.cat([cond, model.null_conditions(batch=1, frames=frames)])
        x = torch.randn(2, LATENT_CHANNELS, frames, 2 * N_BINS)  # (2, 8, Tl, 32)
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(x, torch.tensor(500), cond)
            infer_s.append(time.perf_counter() - t0)
    return {"params_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "train_s_per_step": min(train_s), "infer_s_per_call": min(infer_s),
            "threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m soundtrack.training.ldm",
                                     description="time an LDM config")
    parser.add_argument("--config", default="small", choices=sorted(CONFIGS))
    parser.add_argument("--repeats", type=int, default=8)
    args = parser.parse_args(argv)
    timings = benchmark(CONFIGS[args.config], repeats=args.repeats)
    print(json.dumps({"config": args.config, **{k: round(v, 3) for k, v in timings.items()}}))
    return 0


__all__ = ["LATENT_CACHE_VERSION", "LDMStage", "benchmark", "cfg_dropout", "corpus_beat_positions",
           "encode_corpus", "roll_energy_gain"]

if __name__ == "__main__":
    sys.exit(main())
