"""Generation: a video and the musician's controls -> a music stem, an effects stem, a mix.

The whole video, as the studio and `python -m soundtrack generate` run it:

    pipe = SoundtrackPipeline.bundled()                 # checkpoints/, once per process
    take = pipe("clip.mp4", Settings(tempo=100, instruments={"piano": 1.0, "drums": 0.5}, balance=0.6))
    take.mix.mix                                        # (2, T) float32, 48 kHz, the video's exact length
    for update in pipe.stream("clip.mp4", Settings(seed=3)):   # the same, one update per SNIO
        ...                                                      # iteration and per window

:meth:`SoundtrackPipeline.stream` reads top to bottom as numbered steps: analyse the video
once, CVSM tokens and conditions per 10.24 s window, the outpainted overlap, the guided
sampler (docs/method/sdma.md eqs. 1, 14, 14b) up to SNIO's step, SNIO on that latent
(docs/method/snio.md), the rest of the sampler, the VAE decoder and the vocoder, then the
windows joined and mixed. One 10.24 s window without SNIO or grid guidance, from model
inputs rather than a file (evaluation, tests):

    models = load_models(vae_run=..., vocoder_run=..., cvsm_run=..., ldm_run=...)
    video, thumbs = video_inputs("clip.mp4", start_s=0.0)  # (256, 14), (256, 3, 32, 32) uint8
    clip = generate_clip(models, video=video, thumbs=thumbs, seed=0,
                         controls=Controls(instruments={"piano": 1.0, "drums": 0.5}, tempo_bpm=100))
    clip.music, clip.sfx  # (163840,) float32 each: 10.24 s at 16 kHz

Per-request settings are arguments; nothing is global.
"""
from __future__ import annotations

import dataclasses
import math
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Mapping

import numpy as np
import torch
from torch import Tensor

from soundtrack.config import AUDIO, CLIP, VIDEO
from soundtrack.data.cache import LATENT_FRAMES, MEL_FRAMES
from soundtrack.data.compose import PITCH_NAMES, TEMPO_RANGE  # BPM: the corpus's range
from soundtrack.data.families import FAMILY_NAMES
from soundtrack.errors import InputError
from soundtrack.models.beatgrid import BeatGrid, frame_times

CLIP_SAMPLES = AUDIO.n_samples(CLIP.seconds)  # 163840: 10.24 s at 16 kHz = MEL_FRAMES * hop
INTENSITY_RANGE = (0.6, 1.0)  # the composer's velocity scale
MODES = ("major", "minor")  # index = the LDM's mode id
NO_EVENTS_NOTE = ("No cuts, flashes or impacts were found in this video, so the effects have nothing to follow: "
                  "they are made audible to meet the balance, as hits on no event. For a music-only "
                  "soundtrack, move the balance to 0.")  # report["notes"] (docs/DECISIONS.md #31)
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
    instruments: torch.nn.Module | None = None  # SNIO's instrument classifier (optional)
    instruments_run: Path | None = None

    def runs(self) -> dict[str, str]:
        """Run directories by stage, for reports."""
        runs = {"vae": str(self.vae_run), "vocoder": str(self.vocoder_run), "cvsm": str(self.cvsm_run),
                "ldm": str(self.ldm_run)}
        if self.instruments_run is not None:
            runs["instruments"] = str(self.instruments_run)
        return runs


def _require_run(run: Path, stage: str) -> Path:
    run = Path(run)
    if not (run / "config.json").is_file() or not (run / "model.safetensors").is_file():
        raise InputError(f"no trained {stage} in {run} (need config.json and model.safetensors): "
                         f"python -m soundtrack.train {stage} --run-dir {run}")
    return run


def load_models(*, vae_run: Path | str, vocoder_run: Path | str, cvsm_run: Path | str,
                ldm_run: Path | str, instruments_run: Path | str | None = None,
                device: torch.device | str = "cpu") -> Models:
    """Load the runs in eval mode (a plain function: callers cache the result).

    instruments_run: SNIO's instrument classifier; None (or a missing folder) leaves the
    instrumentation score out of SNIO.
    """
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
    classifier = None
    if instruments_run is not None and (Path(instruments_run) / "model.safetensors").is_file():
        from soundtrack.models.instruments import load_instrument_classifier

        classifier = load_instrument_classifier(Path(instruments_run)).to(device).eval()
    else:
        instruments_run = None
    for m in (cvsm, ldm, vae, vocoder, classifier):
        if m is not None:
            m.eval().requires_grad_(False)
    return Models(vae=vae, vocoder=vocoder, cvsm=cvsm, ldm=ldm, vae_run=runs["vae"],
                  vocoder_run=runs["vocoder"], cvsm_run=runs["cvsm"], ldm_run=runs["ldm"], device=device,
                  instruments=classifier, instruments_run=None if instruments_run is None else Path(instruments_run))


CHECKPOINTS = Path(__file__).resolve().parent.parent / "checkpoints"  # the bundled model
BUNDLED_RUNS = {"vae_run": "vae", "vocoder_run": "vocoder", "cvsm_run": "cvsm", "ldm_run": "ldm",
                "instruments_run": "instruments"}


def checkpoint_root(root: Path | str | None = None) -> Path:
    """The model folder: `root` if given, else $SOUNDTRACK_CHECKPOINTS, else the bundled checkpoints/."""
    import os

    return Path(root or os.environ.get("SOUNDTRACK_CHECKPOINTS") or CHECKPOINTS)


def load_bundled(root: Path | str | None = None, *, ldm: str = "ldm", device: str = "cpu") -> Models:
    """The model in :func:`checkpoint_root` (the shipped `checkpoints/` by default), offline.

    ldm: the diffusion folder to use, "ldm" (SDMA) or "ldm-nosdma" (the ablation).
    """
    root = checkpoint_root(root)
    runs = {arg: root / name for arg, name in BUNDLED_RUNS.items()}
    runs["ldm_run"] = root / ldm
    return load_models(**runs, device=device)


# ---------------------------------------------------------------------------------------- controls
def _number(name: str, value: object, *, lo: float, hi: float) -> float:
    """`value` as a float in [lo, hi], else a one-line InputError."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise InputError(f"{name} must be a number, got {value!r}")
    try:
        x = float(value)
    except OverflowError:  # an int too large for a float (JSON may carry one)
        x = math.inf if value > 0 else -math.inf
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
                  scheduler: str = "dpm++", callback: Callable[[dict], None] | None = None,
                  grid: BeatGrid | None = None) -> Clip:
    """Music and effects stems for a 10.24 s video window under `controls`.

    video (256, 14) float features and thumbs (256, 3, 32, 32) uint8, as :func:`video_inputs`;
    grid: where the beats fall (default: the controls' tempo, first beat at 0 s);
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
        grid = grid or BeatGrid(bpm=controls.tempo_bpm, first_beat_s=0.0)
        beat_pos = torch.from_numpy(grid.positions(frame_times(LATENT_FRAMES)))[None].float().to(dev)
        cond = models.ldm.encode_conditions(video_tokens=tokens, beat_pos=beat_pos, **controls.tensors(dev))
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


# ------------------------------------------------------------------------------ whole-video pipeline
DEFAULT_INSTRUMENTS = {"piano": 1.0, "strings": 0.7, "bass": 0.8, "drums": 0.8}
MAX_STEPS, MAX_SNIO_ITERS = 200, 50


def _whole(name: str, value: object, *, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, (float, np.floating)) and float(value).is_integer():
            value = int(value)
        else:
            raise InputError(f"{name} must be a whole number, got {value!r}")
    if not lo <= int(value) <= hi:
        raise InputError(f"{name} must be between {lo} and {hi}, got {value}")
    return int(value)


@dataclass(frozen=True)
class Settings:
    """One request's settings: the command's options and the studio's controls, validated.

    tempo: BPM in 60-180 or "auto" (from the video's cut and motion rhythm); instruments:
    family -> weight; balance: 0 music only, 1 effects only, 0.5 equal loudness (the
    stems' loudness difference is 20 log10(b / (1 - b)) dB); intensity 0.6-1; key, mode;
    seed; steps (DPM-Solver++ steps); guidance (CFG scale); snio_iters (0 = plain sampling).
    """

    tempo: float | str = "auto"
    instruments: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_INSTRUMENTS))
    balance: float = 0.5
    intensity: float = 0.8
    key: int | str = "C"
    mode: str = "major"
    seed: int = 0
    steps: int = 10
    guidance: float = 3.0
    snio_iters: int = 3

    def __post_init__(self) -> None:
        tempo = self.tempo
        if isinstance(tempo, str):
            if tempo.strip().lower() != "auto":
                try:
                    tempo = float(tempo)
                except ValueError:
                    raise InputError(f"tempo must be a BPM number or 'auto', got {self.tempo!r}") from None
            else:
                tempo = "auto"
        if tempo != "auto":
            tempo = _number("tempo", tempo, lo=TEMPO_RANGE[0], hi=TEMPO_RANGE[1])
        object.__setattr__(self, "tempo", tempo)
        object.__setattr__(self, "balance", _number("balance", self.balance, lo=0.0, hi=1.0))
        object.__setattr__(self, "seed", _whole("seed", self.seed, lo=0, hi=2**31 - 1))
        object.__setattr__(self, "steps", _whole("steps", self.steps, lo=1, hi=MAX_STEPS))
        object.__setattr__(self, "snio_iters", _whole("snio_iters", self.snio_iters, lo=0, hi=MAX_SNIO_ITERS))
        object.__setattr__(self, "guidance", _number("guidance", self.guidance, lo=1.0, hi=15.0))
        controls = self.controls(120.0)  # validates instruments, key, mode, intensity
        if not any(w > 0 for w in controls.instruments.values()):
            raise InputError("choose at least one instrument family with a weight above 0")
        object.__setattr__(self, "instruments", {f: w for f, w in controls.instruments.items() if w > 0})
        object.__setattr__(self, "key", PITCH_NAMES[controls.key])
        object.__setattr__(self, "mode", controls.mode)
        object.__setattr__(self, "intensity", controls.intensity)

    def controls(self, tempo_bpm: float) -> Controls:
        return Controls(instruments=self.instruments, tempo_bpm=tempo_bpm, key=self.key, mode=self.mode,
                        intensity=self.intensity)

    def to_dict(self) -> dict:
        return {"tempo": self.tempo, "instruments": dict(self.instruments), "balance": self.balance,
                "intensity": self.intensity, "key": self.key, "mode": self.mode,
                "seed": self.seed, "steps": self.steps, "guidance": self.guidance, "snio_iters": self.snio_iters}

    @classmethod
    def from_dict(cls, d: Mapping) -> Settings:
        """Settings from a saved settings JSON (unknown keys are refused, missing ones default)."""
        if not isinstance(d, Mapping):
            raise InputError("settings must be a JSON object")
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(d) - known)
        if unknown:
            raise InputError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}")
        return cls(**d)


def parse_instruments(text: str) -> dict[str, float]:
    """'piano,strings:0.5' -> {"piano": 1.0, "strings": 0.5} (a family alone weighs 1)."""
    out: dict[str, float] = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        name, _, weight = part.partition(":")
        try:
            out[name.strip().lower()] = float(weight) if weight else 1.0
        except ValueError:
            raise InputError(f"instrument weight must be a number: {part!r}") from None
    if not out:
        raise InputError("instruments: name at least one family, e.g. piano,strings,drums")
    return out


def instruments_text(instruments: Mapping[str, float]) -> str:
    """{"piano": 1.0, "strings": 0.5} -> "piano,strings:0.5": the inverse of :func:`parse_instruments`."""
    return ",".join(f if w == 1 else f"{f}:{w:g}" for f, w in instruments.items())


@dataclass
class Update:
    """One step of a streamed generation (see :meth:`SoundtrackPipeline.stream`)."""

    kind: str  # "snio" (an iteration's preview), "window" (a window sampled), "done"
    window: int
    n_windows: int
    progress: float  # 0..1 of the whole generation
    scores: dict[str, float] = field(default_factory=dict)
    iteration: int = 0
    music_mel: Tensor | None = None  # (64, F) preview log-mel of the current window
    sfx_mel: Tensor | None = None
    grid: BeatGrid | None = None  # the beat grid the music is conditioned on (video time)
    take: Take | None = None


@dataclass(eq=False)
class Take:
    """A finished soundtrack for one video under one set of settings."""

    settings: Settings
    tempo_bpm: float  # the tempo requested of the model (auto resolved)
    music16: np.ndarray  # (T16,) mono stems at 16 kHz, exactly the video's duration
    sfx16: np.ndarray
    mix: object  # soundtrack.audio.mix.Mix: 48 kHz stereo music, sfx, mix
    duration_s: float
    events: list  # VisualEvent, whole-video times
    noises: list[Tensor]  # per window, SNIO's offset to the latent it optimised: warm start of the next take
    report: dict


class SoundtrackPipeline:
    """Video + settings -> a :class:`Take`; loaded once, settings per call.

    One generation holds the pipeline's lock (the SDMA controller inside the UNet keeps
    per-call state), so concurrent requests are safe and run one after another.
    """

    def __init__(self, models: Models, *, snio: SNIOConfig | None = None,
                 grid_guidance: float | None = None, outpaint: bool = True,
                 hold_until: float | None = None) -> None:
        """outpaint=False samples every window on its own (an ablation: evaluate_windows);
        hold_until: the share of the steps that hold the overlap (default HOLD_UNTIL, snio.md eq. 12b)."""
        from soundtrack.sampling.sample import GRID_GUIDANCE, HOLD_UNTIL
        from soundtrack.sampling.scores import Scorer
        from soundtrack.sampling.snio import SNIOConfig

        self.models = models
        self.scorer = Scorer(cvsm=models.cvsm, instruments=models.instruments)
        self.snio = snio or SNIOConfig()  # everything but `iters`, which is a per-request setting
        self.grid_guidance = GRID_GUIDANCE if grid_guidance is None else float(grid_guidance)
        self.outpaint = bool(outpaint)
        self.hold_until = HOLD_UNTIL if hold_until is None else float(hold_until)
        self._lock = threading.Lock()
        self._plans: dict[tuple, object] = {}

    @classmethod
    def bundled(cls, root: Path | str | None = None, **kw) -> SoundtrackPipeline:
        return cls(load_bundled(root), **kw)

    def plan(self, video: Path | str):
        """The analysed video (cached by path, size and modification time)."""
        from soundtrack.errors import readable_file
        from soundtrack.video.plan import prepare_video

        path = readable_file(video, kind="video")
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._plans:
            if len(self._plans) >= 8:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = prepare_video(path)
        return self._plans[key]

    def __call__(self, video: Path | str, settings: Settings | None = None, **kw) -> Take:
        """Run :meth:`stream` to the end and return the take."""
        for update in self.stream(video, settings, **kw):
            if update.kind == "done":
                return update.take
        raise AssertionError("stream ended without a take")

    def stream(self, video: Path | str, settings: Settings | None = None, *,
               init_noise: list[Tensor] | None = None, cancel: threading.Event | None = None,
               on_step: Callable[[float], None] | None = None) -> Iterator[Update]:
        """Generate, yielding an :class:`Update` per SNIO iteration and per window, then "done".

        init_noise: the `noises` of an earlier take of the same video and seed (warm start: SNIO
        goes on from the latent offsets it ended with there); cancel: set it to stop at the next
        iteration or sampler step (raises soundtrack.sampling.snio.Cancelled); on_step(progress).
        """
        from soundtrack.models.ldm import LATENT_CHANNELS, N_BINS
        from soundtrack.sampling.sample import Sampler
        from soundtrack.sampling.scores import ScoreTargets, mean_scores
        from soundtrack.sampling.snio import Cancelled, decode_stems, project_to_shell, snio
        from soundtrack.video.plan import OVERLAP_FRAMES, WINDOW_FRAMES

        # 1. Check inputs and analyse the video (cached)
        settings = settings or Settings()
        if not isinstance(settings, Settings):
            raise InputError(f"settings must be a Settings, got {type(settings).__name__}")
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        plan = self.plan(video)
        timings["analyse"] = time.perf_counter() - t_start
        tempo = plan.auto_tempo if settings.tempo == "auto" else float(settings.tempo)
        controls = settings.controls(tempo)
        grid = plan.beat_grid(tempo)  # where the beats go (docs/method/sdma.md eq. 2e)
        windows = plan.windows
        n_win = len(windows)
        m, dev = self.models, self.models.device
        shape = (1, LATENT_CHANNELS, WINDOW_FRAMES, 2 * N_BINS)
        generator = torch.Generator().manual_seed(settings.seed)
        seed_noise = [torch.randn(shape, generator=generator) for _ in windows]  # window k: k-th draw
        warm = init_noise is not None and len(init_noise) == n_win and all(n.shape == shape for n in init_noise)
        offsets = [n.detach().clone() for n in init_noise] if warm else [torch.zeros(shape) for _ in windows]
        snio_cfg = dataclasses.replace(self.snio, iters=settings.snio_iters)
        k_snio = snio_cfg.step(settings.steps)  # SNIO optimises the latent before this sampler step
        work = n_win * (settings.snio_iters + 1 + settings.steps)  # units: iterations + sampler steps
        done = [0]

        def tick() -> float:
            done[0] += 1
            if cancel is not None and cancel.is_set():
                raise Cancelled()
            p = done[0] / work
            if on_step is not None:
                on_step(p)
            return p

        windows_report, noises, latents, waves = [], [], [], []
        timings.update(cvsm=0.0, snio=0.0, sample=0.0, decode=0.0, vocode=0.0)
        with self._lock:
            prev: Tensor | None = None
            for win in windows:
                # 2. This window's video tokens, CVSM video embedding and conditions (cvsm.md eq. 1a)
                t0 = time.perf_counter()
                feats, thumbs = plan.window_inputs(win)
                with torch.no_grad():
                    enc = m.cvsm.video(torch.from_numpy(feats)[None].float().to(dev),
                                       torch.from_numpy(thumbs)[None].to(dev))
                    beat_pos = torch.from_numpy(plan.window_beats(grid, win))[None].to(dev)  # (1, 256)
                    cond = m.ldm.encode_conditions(video_tokens=enc.tokens, beat_pos=beat_pos,
                                                   **controls.tensors(dev))
                    gridless = (m.ldm.encode_conditions(video_tokens=enc.tokens, **controls.tensors(dev))
                                if self.grid_guidance else None)  # eq. (14b)
                timings["cvsm"] += time.perf_counter() - t0
                events = plan.window_events(win)
                heard = heard_frames(plan.duration_s, win.start_s)  # the video may end inside the window
                targets = ScoreTargets.make(tempo_bpm=tempo, instruments=controls.instruments,
                                            balance=settings.balance, events_s=[e.time for e in events],
                                            n_frames=MEL_FRAMES, heard=heard)
                # 3. Outpainting: hold the overlap at the previous window's latent (snio.md eq. 12)
                known = mask = None
                if prev is not None and self.outpaint:
                    known = torch.zeros(shape, device=dev)
                    mask = torch.zeros(shape, device=dev)
                    known[:, :, :OVERLAP_FRAMES] = prev[:, :, WINDOW_FRAMES - OVERLAP_FRAMES:]
                    mask[:, :, :OVERLAP_FRAMES] = 1.0
                # 4. The guided sampler (sdma.md eqs. 1, 14, 14b) up to SNIO's step k
                t0 = time.perf_counter()
                sampler = Sampler(m.ldm, cond, steps=settings.steps, noise=seed_noise[win.index].to(dev),
                                  guidance=settings.guidance, known=known, mask=mask, gridless=gridless,
                                  grid_guidance=self.grid_guidance, hold_until=self.hold_until)
                with torch.no_grad():
                    x = sampler.run(sampler.start(), 0, k_snio, callback=lambda info: tick())
                    x_k = x + offsets[win.index].to(dev)  # warm start: where the last take's SNIO ended
                    if k_snio == 0 and warm:  # the starting noise stays on its Gaussian shell (eq. 11)
                        x_k = project_to_shell(x_k)
                timings["sample"] += time.perf_counter() - t0
                # 5. SNIO on the latent x_{t_k} (Algorithm 1), streamed
                t0 = time.perf_counter()
                history = []
                for it in snio(sampler, m.vae, self.scorer, targets, x_k, step=k_snio, cfg=snio_cfg,
                               video_embed=enc.embed, cancel=cancel):
                    history.append(it.scores)
                    x_k = it.x
                    yield Update("snio", win.index, n_win, tick(), scores=it.scores, iteration=it.iter,
                                 music_mel=it.music_mel, sfx_mel=it.sfx_mel, grid=grid)
                timings["snio"] += time.perf_counter() - t0
                # 6. The rest of the sampler from the optimised latent
                t0 = time.perf_counter()
                with torch.no_grad():
                    z = sampler.run(x_k, k_snio, callback=lambda info: tick())
                timings["sample"] += time.perf_counter() - t0
                # 7. Decode both stems; score the sampled result with the same scores
                t0 = time.perf_counter()
                with torch.no_grad():
                    music_mel, sfx_mel = decode_stems(m.vae, z, m.ldm.latent_scale)  # (1, 64, 1024) each
                    final = self.scorer(music_mel, sfx_mel, targets, video_embed=enc.embed)
                timings["decode"] += time.perf_counter() - t0
                # 8. Vocode both stems in one batch
                t0 = time.perf_counter()
                with torch.no_grad():
                    wave = vocode(m.vocoder, torch.cat([music_mel, sfx_mel])).float().cpu().numpy()  # (2, T)
                timings["vocode"] += time.perf_counter() - t0
                prev = z
                noises.append((x_k - x).detach().cpu())  # SNIO's offset: the next take's warm start
                latents.append(z.cpu())
                waves.append(wave)
                windows_report.append({
                    "window": win.index, "start_s": win.start_s, "events": len(events),
                    "heard_s": heard * AUDIO.hop_length / AUDIO.sample_rate,
                    "snio_surrogate": {"before": history[0], "after": history[-1]},
                    "output": {k: float(v.mean()) for k, v in final.items()},
                })
                yield Update("window", win.index, n_win, done[0] / work, scores=windows_report[-1]["output"],
                             iteration=settings.snio_iters, music_mel=music_mel[0], sfx_mel=sfx_mel[0],
                             grid=grid)
        # 9. Join the windows (crossfade over the overlap) and cut to the video's length
        t0 = time.perf_counter()
        n_out = int(round(plan.duration_s * AUDIO.sample_rate))
        music16, sfx16 = (join_windows([w[i] for w in waves], n_out) for i in (0, 1))
        # 10. Mix: effects panned by where they happen in the picture, balance, loudness, true peak
        mix = mix_take(music16, sfx16, events=plan.events, balance=settings.balance)
        timings["mix"] = time.perf_counter() - t0
        timings["total"] = time.perf_counter() - t_start
        report = {
            "settings": settings.to_dict(), "tempo_requested_bpm": tempo,
            "tempo_auto": settings.tempo == "auto", "beat_grid": grid.to_dict(), "models": m.runs(),
            "sampler": {"grid_guidance": self.grid_guidance, "snio_at_step": k_snio, "snio_lr": snio_cfg.lr,
                        "hold_until": self.hold_until},
            "video": {"file": plan.path.name, "duration_s": plan.duration_s, "events": len(plan.events)},
            "windows": windows_report, "timings_s": timings,
            "scores": {"before_snio": mean_scores([w["snio_surrogate"]["before"] for w in windows_report]),
                       "after_snio": mean_scores([w["snio_surrogate"]["after"] for w in windows_report]),
                       "output": mean_scores([w["output"] for w in windows_report])},
            "loudness": _loudness(mix),
            "notes": _notes(bool(plan.events), settings.balance),
        }
        take = Take(settings=settings, tempo_bpm=tempo, music16=music16, sfx16=sfx16, mix=mix,
                    duration_s=plan.duration_s, events=list(plan.events), noises=noises, report=report)
        yield Update("done", n_win - 1, n_win, 1.0, scores=report["scores"]["output"], grid=grid, take=take)


def mix_take(music16: np.ndarray, sfx16: np.ndarray, *, events: list, balance: float):
    """The stems mixed at the balance: effects panned by where they happen in the picture,
    loudness and true peak (soundtrack.audio.mix.mix_stems). 48 kHz stereo."""
    from soundtrack.audio.mix import mix_stems, pan_curve

    pan = pan_curve([e.time for e in events], [e.x for e in events], n_samples=len(music16),
                    sr=AUDIO.sample_rate)
    return mix_stems(music16, sfx16, sr_in=AUDIO.sample_rate, balance=balance, sfx_pan=pan)


def _loudness(mix) -> dict[str, float]:
    """report["loudness"] of a mix (soundtrack.audio.mix.Mix)."""
    return {"mix_lufs": mix.mix_lufs, "mix_dbtp": mix.mix_dbtp, "music_lufs": mix.music_lufs,
            "sfx_lufs": mix.sfx_lufs}


def _notes(has_events: bool, balance: float) -> list[str]:
    return [NO_EVENTS_NOTE] if not has_events and balance > 0.0 else []


def remix(take: Take, balance: float) -> Take:
    """The take's stems mixed again at another balance: a new take in a fraction of a second.

    The mixer meets the slider exactly whenever both stems are audible (docs/DECISIONS.md #18),
    so a balance move needs no new generation (#36). The stems stay those generated for the
    take's own balance, whose SNIO balance term brought the raw stems near that balance;
    generating with the new settings re-optimises them for the new one. The report keeps the
    generation's scores and says where the take came from (`remixed_from_balance`).
    """
    t0 = time.perf_counter()
    settings = dataclasses.replace(take.settings, balance=balance)  # validates the balance
    mix = mix_take(take.music16, take.sfx16, events=take.events, balance=settings.balance)
    report = dict(take.report)
    report["settings"] = settings.to_dict()
    report["remixed_from_balance"] = take.report.get("remixed_from_balance", take.settings.balance)
    report["loudness"] = _loudness(mix)
    elapsed = time.perf_counter() - t0
    report["timings_s"] = {"mix": elapsed, "total": elapsed}
    report["notes"] = _notes(bool(take.events), settings.balance)
    return dataclasses.replace(take, settings=settings, mix=mix, report=report)


def heard_frames(duration_s: float, start_s: float) -> int:
    """Mel frames of a window starting at start_s that the take keeps: the video's end cuts it."""
    frames = math.ceil((duration_s - start_s) * AUDIO.sample_rate / AUDIO.hop_length - 1e-6)
    return max(1, min(MEL_FRAMES, frames))


def join_windows(waves: list[np.ndarray], n_out: int) -> np.ndarray:
    """Window waves (each 163840 samples, hop 7.68 s) -> one (n_out,) wave.

    Consecutive windows overlap by 2.56 s, whose latent the later window held at the earlier
    one's for the first half of its steps (outpainting, snio.md eqs. 12, 12b), so they agree
    there in what the early steps decide; a linear crossfade over the overlap hides the rest.
    The result is cut (or zero-padded) to exactly n_out samples.
    """
    from soundtrack.video.plan import HOP_FRAMES, OVERLAP_FRAMES

    hop = HOP_FRAMES * AUDIO.sample_rate // 25  # samples per window hop
    ov = OVERLAP_FRAMES * AUDIO.sample_rate // 25
    total = hop * (len(waves) - 1) + CLIP_SAMPLES
    out = np.zeros(max(total, n_out), np.float32)
    fade_in = np.linspace(0.0, 1.0, ov, dtype=np.float32)
    for k, w in enumerate(waves):
        w = w.astype(np.float32).copy()
        assert w.shape == (CLIP_SAMPLES,), f"{w.shape=}"
        if k > 0:
            w[:ov] *= fade_in
        if k + 1 < len(waves):
            w[-ov:] *= 1.0 - fade_in
        out[k * hop:k * hop + CLIP_SAMPLES] += w
    return np.ascontiguousarray(out[:n_out])


__all__ = ["CHECKPOINTS", "CLIP_SAMPLES", "DEFAULT_INSTRUMENTS", "MAX_SNIO_ITERS", "MAX_STEPS", "MODES",
           "NO_EVENTS_NOTE", "Clip",
           "Controls", "Models", "Settings", "SoundtrackPipeline", "Take", "Update", "checkpoint_root",
           "generate_clip", "heard_frames", "instruments_text", "join_windows", "load_bundled", "load_models",
           "mix_take", "parse_instruments", "remix", "video_inputs", "vocode"]
