"""Generation: a video window and the musician's controls -> a music stem and an effects stem.

    models = load_models(vae_run=..., vocoder_run=..., cvsm_run=..., ldm_run=...)  # once; callers cache it
    video, thumbs = video_inputs("clip.mp4", start_s=0.0)  # (256, 14), (256, 3, 32, 32) uint8
    clip = generate_clip(models, video=video, thumbs=thumbs, seed=0,
                         controls=Controls(instruments={"piano": 1.0, "drums": 0.5}, tempo_bpm=100))
    clip.music, clip.sfx  # (163840,) float32 each: 10.24 s at 16 kHz

:func:`generate_clip` reads top to bottom as numbered steps: the CVSM video tokens
(docs/method/cvsm.md eq. 1a), the conditions encoded once (docs/method/sdma.md eq. 2), the
guided sampler over the two-stem latent (eqs. 1, 14), the VAE decoder per stem and the
vocoder. Per-request settings (controls, seed, steps, guidance) are arguments; nothing is
global.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping

import numpy as np
import torch
from torch import Tensor

from soundtrack.config import AUDIO, CLIP, VIDEO
from soundtrack.data.cache import LATENT_FRAMES, MEL_FRAMES
from soundtrack.data.compose import PITCH_NAMES, TEMPO_RANGE  # BPM: the corpus's range
from soundtrack.data.families import FAMILY_NAMES
from soundtrack.errors import InputError

CLIP_SAMPLES = AUDIO.n_samples(CLIP.seconds)  # 163840: 10.24 s at 16 kHz = MEL_FRAMES * hop
INTENSITY_RANGE = (0.6, 1.0)  # the composer's velocity scale
MODES = ("major", "minor")  # index = the LDM's mode id
_FLATS = {"DB": "C#", "EB": "D#", "GB": "F#", "AB": "G#", "BB": "A#"}


# ------------------------------------------------------------------------------------------ models
@dataclass(frozen=True)
class Models:
    """The four trained models of one generator, and where they came from."""

    vae: torch.nn.Module  # MelVAE
    vocoder: torch.nn.Module  # Vocoder
    cvsm: torch.nn.Module  # CVSM
    ldm: torch.nn.Module  # SoundtrackLDM
    vae_run: Path
    vocoder_run: Path
    cvsm_run: Path
    ldm_run: Path
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def runs(self) -> dict[str, str]:
        """Run directories by stage, for reports."""
        return {"vae": str(self.vae_run), "vocoder": str(self.vocoder_run), "cvsm": str(self.cvsm_run),
                "ldm": str(self.ldm_run)}


def _require_run(run: Path, stage: str) -> Path:
    run = Path(run)
    if not (run / "config.json").is_file() or not (run / "model.safetensors").is_file():
        raise InputError(f"no trained {stage} in {run} (need config.json and model.safetensors): "
                         f"python -m soundtrack.train {stage} --run-dir {run}")
    return run


def load_models(*, vae_run: Path | str, vocoder_run: Path | str, cvsm_run: Path | str,
                ldm_run: Path | str, device: torch.device | str = "cpu") -> Models:
    """Load the four runs in eval mode (a plain function: callers cache the result)."""
    from soundtrack.models.cvsm import load_cvsm
    from soundtrack.models.ldm import load_ldm
    from soundtrack.models.vae import load_vae
    from soundtrack.models.vocoder import load_vocoder

    device = torch.device(device)
    runs = {stage: _require_run(Path(run), stage) for stage, run in
            (("vae", vae_run), ("vocoder", vocoder_run), ("cvsm", cvsm_run), ("ldm", ldm_run))}
    cvsm = load_cvsm(runs["cvsm"]).to(device)
    ldm = load_ldm(runs["ldm"], device=device)
    if cvsm.cfg.token_dim != ldm.cfg.video_dim:
        raise InputError(f"the CVSM run {runs['cvsm']} gives {cvsm.cfg.token_dim}-wide tokens but the LDM "
                         f"run {runs['ldm']} expects {ldm.cfg.video_dim}: pair the runs trained together")
    vae, vocoder = load_vae(runs["vae"], device=device), load_vocoder(runs["vocoder"], device=device)
    return Models(vae=vae, vocoder=vocoder, cvsm=cvsm, ldm=ldm, vae_run=runs["vae"],
                  vocoder_run=runs["vocoder"], cvsm_run=runs["cvsm"], ldm_run=runs["ldm"], device=device)


# ---------------------------------------------------------------------------------------- controls
def _number(name: str, value: object, *, lo: float, hi: float) -> float:
    """`value` as a float in [lo, hi], else a one-line InputError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or not lo <= x <= hi:
        raise InputError(f"{name} must be between {lo:g} and {hi:g}, got {x:g}")
    return x


def _pitch_class(key: object) -> int:
    if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
        if not 0 <= int(key) < 12:
            raise InputError(f"key must be a pitch class 0-11 or a name ({', '.join(PITCH_NAMES)}), "
                             f"got {key}")
        return int(key)
    if isinstance(key, str):
        name = key.strip()
        name = name[:1].upper() + name[1:].lower().replace("♯", "#").replace("♭", "b")
        name = _FLATS.get(name.upper(), name)
        if name in PITCH_NAMES:
            return PITCH_NAMES.index(name)
    raise InputError(f"unknown key {key!r}; use a pitch class 0-11 or one of {', '.join(PITCH_NAMES)}")


@dataclass(frozen=True)
class Controls:
    """The musician's controls (docs/method/sdma.md eq. 2c), validated on construction.

    instruments: family -> weight in [0, 1] over FAMILY_NAMES; missing families weigh 0
    (stored as the full map, FAMILY_NAMES order). key: pitch class 0-11 or a name ("D",
    "F#", "Bb"; stored as the pitch class). mode: "major" or "minor". Out-of-range, NaN or
    unknown values raise a one-line :class:`InputError`.
    """

    instruments: Mapping[str, float]
    tempo_bpm: float = 120.0
    key: int | str = 0
    mode: str = "major"
    intensity: float = 0.8

    def __post_init__(self) -> None:
        if not isinstance(self.instruments, Mapping):
            raise InputError(f"instruments must map family names to weights, "
                             f"got {type(self.instruments).__name__}")
        unknown = [f for f in self.instruments if f not in FAMILY_NAMES]
        if unknown:
            raise InputError(f"unknown instrument famil{'ies' if len(unknown) > 1 else 'y'} "
                             f"{', '.join(map(repr, unknown))}; known: {', '.join(FAMILY_NAMES)}")
        weights = {f: _number(f"weight of {f}", self.instruments.get(f, 0.0), lo=0.0, hi=1.0)
                   for f in FAMILY_NAMES}
        mode = self.mode.strip().lower() if isinstance(self.mode, str) else self.mode
        if mode not in MODES:
            raise InputError(f"mode must be 'major' or 'minor', got {self.mode!r}")
        # normalised in place: the dataclass is frozen to callers, not to its own validation
        object.__setattr__(self, "instruments", weights)
        object.__setattr__(self, "tempo_bpm",
                           _number("tempo_bpm", self.tempo_bpm, lo=TEMPO_RANGE[0], hi=TEMPO_RANGE[1]))
        object.__setattr__(self, "key", _pitch_class(self.key))
        object.__setattr__(self, "mode", mode)
        object.__setattr__(self, "intensity",
                           _number("intensity", self.intensity, lo=INTENSITY_RANGE[0], hi=INTENSITY_RANGE[1]))

    def __hash__(self) -> int:  # the instruments map is normalised to FAMILY_NAMES order
        return hash((tuple(self.instruments.items()), self.tempo_bpm, self.key, self.mode, self.intensity))

    @classmethod
    def from_labels(cls, labels: Mapping) -> Controls:
        """The controls a corpus item was made with (its labels.json): listed families weigh 1."""
        return cls(instruments={f: 1.0 for f in labels["instruments"]}, tempo_bpm=labels["tempo_bpm"],
                   key=labels["key"], mode=labels["mode"], intensity=labels.get("intensity", 1.0))

    def tensors(self, device: torch.device | str = "cpu") -> dict[str, Tensor]:
        """The keyword arguments of `SoundtrackLDM.encode_conditions` for one row (batch 1)."""
        return {
            "instruments": torch.tensor([[self.instruments[f] for f in FAMILY_NAMES]],
                                        device=device),  # (1, 10) weights
            "tempo": torch.tensor([self.tempo_bpm], device=device),  # (1,) BPM
            "key": torch.tensor([self.key], dtype=torch.long, device=device),  # (1,)
            "mode": torch.tensor([MODES.index(self.mode)], dtype=torch.long, device=device),  # (1,) 0 major
            "intensity": torch.tensor([self.intensity], device=device),  # (1,)
        }


# -------------------------------------------------------------------------------------------- video
def video_inputs(path: Path | str, *, start_s: float = 0.0) -> tuple[Tensor, Tensor]:
    """The model's view of a 10.24 s window of a video file starting at `start_s`.

    Returns (features (256, 14) float32, thumbnails (256, 3, 32, 32) uint8) at 25 frames/s;
    a window running past the end is edge-padded (the last frame held).
    """
    from soundtrack.video.decode import Frames, iter_frames, probe
    from soundtrack.video.features import analyze
    from soundtrack.video.matrix import feature_matrix, thumbnails

    info = probe(path)
    start = _number("start_s", start_s, lo=0.0, hi=max(0.0, info.duration_s - 1.0 / VIDEO.analysis_fps))
    end = start + CLIP.seconds
    images, times = [], []
    for t, image in iter_frames(path, fps=VIDEO.analysis_fps, width=VIDEO.analysis_width):
        if t >= end - 1e-9:
            break
        if t >= start - 1e-9:
            images.append(image)
            times.append(t - start)
    if not images:
        raise InputError(f"{Path(path).name}: no frame in the window starting at {start:g} s")
    frames = Frames(frames=np.stack(images), times=np.asarray(times, np.float64), fps=VIDEO.analysis_fps,
                    info=info)  # (n <= 256, H, W, 3), times from 0
    video = feature_matrix(analyze(frames), n_frames=LATENT_FRAMES)  # (256, 14)
    thumbs = thumbnails(frames, n_frames=LATENT_FRAMES)  # (256, 3, 32, 32)
    return torch.from_numpy(video), torch.from_numpy(thumbs)


# --------------------------------------------------------------------------------------- generation
@dataclass(frozen=True, eq=False)
class Clip:
    """One generated 10.24 s soundtrack: two stems and what produced them."""

    music: np.ndarray  # (163840,) float32, 16 kHz
    sfx: np.ndarray  # (163840,) float32, 16 kHz
    music_mel: Tensor  # (64, 1024) log-mel from the VAE decoder (the vocoder's input)
    sfx_mel: Tensor  # (64, 1024)
    latents: Tensor  # (1, 8, 256, 32) scaled two-stem latent: music columns 0-15, effects 16-31
    seed: int
    timings: dict  # seconds: cvsm, conditions, sample, step (list, one per step), decode, vocode, total
    sample_rate: int = AUDIO.sample_rate

    @property
    def duration_s(self) -> float:
        return len(self.music) / self.sample_rate


def vocode(vocoder: torch.nn.Module, mel: Tensor) -> Tensor:
    """Log-mels (B, 64, 1024) -> waves (B, 163840): exactly 10.24 s.

    The corpus mels drop the STFT's last frame (1025 -> 1024, so 4x compression divides);
    repeating the last frame restores it, and the vocoder's (F - 1) * 160 samples for
    F = 1025 are the clip's 163840.
    """
    assert mel.ndim == 3 and mel.shape[1] == AUDIO.n_mels, f"{mel.shape=}"
    full = torch.cat([mel, mel[..., -1:]], dim=-1)  # (B, 64, F + 1)
    return vocoder(full)  # (B, F * 160)


def generate_clip(models: Models, *, video: Tensor | np.ndarray, thumbs: Tensor | np.ndarray,
                  controls: Controls, seed: int, steps: int = 25, guidance: float = 3.0,
                  scheduler: str = "dpm++", callback: Callable[[dict], None] | None = None) -> Clip:
    """Music and effects stems for a 10.24 s video window under `controls`.

    video (256, 14) float features and thumbs (256, 3, 32, 32) uint8, as :func:`video_inputs`;
    seed fixes the starting noise (same seed, same inputs: identical stems); callback gets the
    sampler's per-step dict {"i", "t", "x", "denoised"} plus "steps" and "elapsed_s".
    """
    from soundtrack.models.cvsm import video_tokens
    from soundtrack.models.ldm import LATENT_CHANNELS, N_BINS
    from soundtrack.sampling.sample import decode_latents, sample
    from soundtrack.video.matrix import N_FEATURES, THUMB

    # 1. Check inputs
    video, thumbs = torch.as_tensor(video), torch.as_tensor(thumbs)
    if tuple(video.shape) != (LATENT_FRAMES, N_FEATURES):
        raise InputError(f"video features must be ({LATENT_FRAMES}, {N_FEATURES}), got {tuple(video.shape)}")
    if tuple(thumbs.shape) != (LATENT_FRAMES, 3, THUMB, THUMB) or thumbs.dtype != torch.uint8:
        raise InputError(f"thumbnails must be uint8 ({LATENT_FRAMES}, 3, {THUMB}, {THUMB}), "
                         f"got {thumbs.dtype} {tuple(thumbs.shape)}")
    if not isinstance(controls, Controls):
        raise InputError(f"controls must be a Controls, got {type(controls).__name__}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise InputError(f"steps must be a whole number >= 1, got {steps!r}")
    guidance = _number("guidance", guidance, lo=0.0, hi=50.0)
    dev = models.device
    timings: dict = {}
    t_start = time.perf_counter()
    with torch.no_grad():
        # 2. CVSM video tokens, one per latent frame (docs/method/cvsm.md eq. 1a)
        t0 = time.perf_counter()
        tokens = video_tokens(models.cvsm, video[None].float().to(dev), thumbs[None].to(dev))  # (1, 256, d)
        timings["cvsm"] = time.perf_counter() - t0
        # 3. Encode the conditions once (docs/method/sdma.md eq. 2)
        t0 = time.perf_counter()
        cond = models.ldm.encode_conditions(video_tokens=tokens, **controls.tensors(dev))
        timings["conditions"] = time.perf_counter() - t0
        # 4. Sample the two-stem latent with guidance (eqs. 1, 14), noise from the seed
        step_s: list[float] = []
        last = [time.perf_counter()]

        def on_step(info: dict) -> None:
            now = time.perf_counter()
            step_s.append(now - last[0])
            last[0] = now
            if callback is not None:
                callback({**info, "steps": steps, "elapsed_s": now - t_start})

        generator = torch.Generator(device="cpu").manual_seed(int(seed))
        shape = (1, LATENT_CHANNELS, LATENT_FRAMES, 2 * N_BINS)  # (1, 8, 256, 32), eq. (1)
        x_T = torch.randn(shape, generator=generator)  # drawn on the CPU: the same noise on any device
        t0 = time.perf_counter()
        z = sample(models.ldm, cond, shape=shape, steps=steps, guidance=guidance, scheduler=scheduler,
                   x_T=x_T.to(dev), callback=on_step)  # (1, 8, 256, 32) scaled
        timings["sample"], timings["step"] = time.perf_counter() - t0, step_s
        # 5. Split the stems and decode each with the VAE (unscaled by latent_scale inside)
        t0 = time.perf_counter()
        music_mel, sfx_mel = decode_latents(models.vae, z, models.ldm.latent_scale)  # (1, 64, 1024) each
        timings["decode"] = time.perf_counter() - t0
        # 6. Vocode both stems in one batch
        t0 = time.perf_counter()
        waves = vocode(models.vocoder, torch.cat([music_mel, sfx_mel]))  # (2, 163840)
        timings["vocode"] = time.perf_counter() - t0
    timings["total"] = time.perf_counter() - t_start
    assert waves.shape == (2, CLIP_SAMPLES), f"{waves.shape=}"
    assert music_mel.shape == (1, AUDIO.n_mels, MEL_FRAMES), f"{music_mel.shape=}"
    waves_np = waves.float().cpu().numpy()
    return Clip(music=np.ascontiguousarray(waves_np[0]), sfx=np.ascontiguousarray(waves_np[1]),
                music_mel=music_mel[0].cpu(), sfx_mel=sfx_mel[0].cpu(), latents=z.cpu(), seed=int(seed),
                timings=timings)


__all__ = ["CLIP_SAMPLES", "Clip", "Controls", "Models", "generate_clip", "load_models", "video_inputs",
           "vocode"]
