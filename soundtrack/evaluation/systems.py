"""The systems of the evaluation: ONE table (`SYSTEMS`) of small objects, each saying how its
stems of an item are made (soundtrack/evaluation/ablations.py scores them all alike).

A :class:`Generated` system is the pipeline under a diffusion model, a GenerationConfig and
the evaluation's settings (with or without SNIO, a seed offset, the music of another
system); the others are references: the nearest training clip (:class:`Retrieved`), the
codec round trip (:class:`RoundTrip`) and the real stems (:class:`Real`). A new ablation is a
new row of the table. `SCORE_SYSTEMS` is the score engine's table (`evaluate --engine
score`): the same ablations of its model, and :class:`Composer`, the procedural composer
alone on the take's beat grid (the rules the model learned from, without the model).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from soundtrack.config import TIMING, GenerationConfig
from soundtrack.evaluation.items import read_stem
from soundtrack.music.beatgrid import BeatGrid
from soundtrack.music.score import Score, encode_roll
from soundtrack.music.theory import BEATS_PER_BAR
from soundtrack.pipeline.notes import window_score
from soundtrack.pipeline.settings import Controls

TWO_STEP_SEED_OFFSET = 50_021  # the effects run of `two_step` uses seed + i + this


class Stems(NamedTuple):
    music: np.ndarray  # (T,) 16 kHz
    sfx: np.ndarray
    scores: dict | None = None  # a generated take's report["scores"]


@dataclass(eq=False)
class Run:
    """What the systems of one evaluation share: the items, the settings and the models."""

    corpus: Path
    items: list[Path]  # the items' folders
    labels: list[dict]
    arrays: object  # soundtrack.corpus.cache.CorpusArrays of the split
    seed: int
    steps: int
    guidance: float
    snio_iters: int
    models: dict  # run key of a diffusion model ("ldm", "score", ...) -> its soundtrack.pipeline.Models
    cvsm: torch.nn.Module
    vae: torch.nn.Module | None
    vocoder: torch.nn.Module | None
    video_embed: torch.Tensor  # (n, D) the items' CVSM video embeddings, unit vectors
    progress: bool = True
    waves: dict[str, dict[str, list]] = field(default_factory=dict)  # system -> stem -> the waves so far
    retrieved: list[Path] = field(default_factory=list)  # the nearest training item of each item
    pipes: dict = field(default_factory=dict)

    def pipeline(self, ldm: str, config: GenerationConfig):
        """The pipeline of a diffusion model under `config`, one per pair (its analysed videos are cached)."""
        from soundtrack.pipeline import SoundtrackPipeline

        if (ldm, config) not in self.pipes:
            self.pipes[(ldm, config)] = SoundtrackPipeline(self.models[ldm], config)
        return self.pipes[(ldm, config)]


class System:
    """A row of the evaluation: how its stems of item i are made."""

    name: str

    @property
    def needs(self) -> tuple[str, ...]:
        """The runs (keys of soundtrack.evaluation.ablations.RUN_STAGES) the row cannot do without."""
        return ()

    def prepare(self, run: Run) -> None:
        """Work done once before the items (not counted in the row's seconds per item)."""

    def stems(self, run: Run, i: int) -> Stems:
        raise NotImplementedError


@dataclass(frozen=True)
class Generated(System):
    """Sampled by the pipeline from the item's video, with the settings of its labels
    (Settings.from_labels) and seed `seed + i + seed_offset`."""

    name: str
    ldm: str = "ldm"  # the diffusion model's run key
    snio: bool = True  # SNIO with the evaluation's iterations; False: plain sampling
    seed_offset: int = 0
    music_from: str | None = None  # the music is this system's, of the same item (two_step)
    config: GenerationConfig = GenerationConfig()

    @property
    def needs(self) -> tuple[str, ...]:
        return (self.ldm, "vae", "vocoder")

    def stems(self, run: Run, i: int) -> Stems:
        from soundtrack.pipeline import Settings

        settings = Settings.from_labels(run.labels[i], seed=run.seed + i + self.seed_offset, steps=run.steps,
                                        guidance=run.guidance, snio_iters=run.snio_iters if self.snio else 0)
        take = run.pipeline(self.ldm, self.config)(run.items[i] / "video.mp4", settings)
        music = take.music16
        if self.music_from is not None and self.music_from in run.waves:
            music = run.waves[self.music_from]["music"][-1]
        return Stems(music, take.sfx16, take.report["scores"])


@dataclass(frozen=True)
class Retrieved(System):
    """The real stems of the training item whose CVSM video embedding is nearest (cosine)."""

    name: str

    @property
    def needs(self) -> tuple[str, ...]:
        return ("cvsm",)

    def prepare(self, run: Run) -> None:
        train_names, train_embed = train_video_embeddings(run.cvsm, run.corpus, progress=run.progress)
        nearest = (run.video_embed @ train_embed.T).argmax(dim=1)  # (n,)
        run.retrieved = [run.corpus / "train" / train_names[int(j)] for j in nearest]

    def stems(self, run: Run, i: int) -> Stems:
        return Stems(read_stem(run.retrieved[i], "music"), read_stem(run.retrieved[i], "sfx"))


@dataclass(frozen=True)
class RoundTrip(System):
    """The real stems' cached log-mels through VAE encode (mode) -> decode -> vocoder."""

    name: str

    @property
    def needs(self) -> tuple[str, ...]:
        return ("vae", "vocoder")

    def stems(self, run: Run, i: int) -> Stems:
        from soundtrack.sampling.decode import vocode

        with torch.no_grad():
            mels = torch.stack([run.arrays.music_mel[i], run.arrays.sfx_mel[i]]).float()  # (2, 64, 1024)
            music, sfx = vocode(run.vocoder, run.vae.decode(run.vae.encode(mels))).numpy()  # (163840,) x 2
        return Stems(music, sfx)


@dataclass(frozen=True)
class Real(System):
    """The item's own stems: the reference every row is scored against."""

    name: str

    def stems(self, run: Run, i: int) -> Stems:
        return Stems(read_stem(run.items[i], "music"), read_stem(run.items[i], "sfx"))


def composer_score(controls: Controls, *, grid: BeatGrid, duration_s: float, seed: int) -> Score:
    """The procedural composer alone for a request (tempo, key, mode, intensity, instruments), its
    bars on the take's beat grid, through the score engine's own representation: encoded as a
    lane roll and played as a window's roll is (notes.window_score: decoded on the grid, eqs. S1-S4,
    and orchestrated). It never sees the video: the score engine's ablation `composer` (the rules
    the model learned from, without the model)."""
    from soundtrack.corpus.compose import compose_for
    from soundtrack.corpus.notes import piece_lanes

    bar = BEATS_PER_BAR * grid.period_s
    first = grid.first_beat_s + grid.downbeat * grid.period_s  # beat position 0: a downbeat at or after 0 s
    downbeat0 = first - bar * np.ceil(first / bar - 1e-9)  # the bar line at or before 0 s
    piece = compose_for(np.random.default_rng(seed), duration=duration_s, tempo_bpm=controls.tempo_bpm,
                        key=controls.key, mode=controls.mode, downbeat0=downbeat0,
                        intensity=controls.intensity)
    roll = encode_roll(piece_lanes(piece), key=piece.key, mode=piece.mode,
                       frames=int(np.ceil(duration_s * TIMING.latent_fps)))
    return window_score(roll, start_s=0.0, seconds=duration_s, controls=controls, grid=grid)


@dataclass(frozen=True)
class Composer(System):
    """The corpus's composer alone for the item's request (tempo, key, mode, intensity and
    families of its labels), its bars on the beat grid the pipeline would draw for the video,
    through the score engine's roll, orchestration and render (composer_score); seed `seed + i`.
    It never sees the video. The effects are `sfx_from`'s."""

    name: str
    sfx_from: str = "full"

    def stems(self, run: Run, i: int) -> Stems:
        from soundtrack.pipeline import Settings
        from soundtrack.pipeline.notes import render_take
        from soundtrack.video.plan import prepare_video

        settings = Settings.from_labels(run.labels[i], seed=run.seed + i)
        plan = prepare_video(run.items[i] / "video.mp4")
        tempo = plan.tempo_for(settings.tempo)
        score = composer_score(settings.controls(tempo), grid=plan.beat_grid(tempo),
                               duration_s=plan.duration_s, seed=run.seed + i)
        _, music = render_take(score)
        sfx = run.waves.get(self.sfx_from, {}).get("sfx")
        return Stems(music, sfx[-1] if sfx else np.zeros_like(music))


def model_rows(ldm: str, nosdma: str) -> tuple[Generated, ...]:
    """A diffusion model's rows (run keys: the model and its plain-attention ablation): full,
    no_snio, no_sdma and two_step."""
    return (Generated("full", ldm=ldm, snio=True),
            Generated("no_snio", ldm=ldm, snio=False),
            Generated("no_sdma", ldm=nosdma, snio=True),
            Generated("two_step", ldm=ldm, snio=False, seed_offset=TWO_STEP_SEED_OFFSET, music_from="no_snio"))


SYSTEMS: tuple[System, ...] = (*model_rows("ldm", "ldm_nosdma"), Retrieved("retrieval"),
                               RoundTrip("round_trip"), Real("real"))
SCORE_SYSTEMS: tuple[System, ...] = (*model_rows("score", "score_nosdma"), Composer("composer"), Real("real"))
SYSTEM_NAMES = tuple(s.name for s in SYSTEMS)


def train_video_embeddings(cvsm, corpus: Path, *, chunk: int = 32,
                           progress: bool = True) -> tuple[list[str], torch.Tensor]:
    """(names, (N, D) CVSM video embeddings) of the whole train split, read from the video
    cache a chunk at a time (the train thumbnails are ~1 GB)."""
    from safetensors import safe_open
    from tqdm import tqdm

    from soundtrack.corpus.cache import build_cache, cache_file

    path = cache_file(corpus, "train", "video")
    if not path.is_file():
        build_cache(corpus, "train", "video", progress=progress)
    names = json.loads(path.with_suffix(".json").read_text())["names"]
    embeds = []
    with safe_open(os.fspath(path), framework="pt") as f, torch.no_grad():
        video, thumbs = f.get_slice("video"), f.get_slice("thumbs")
        for i in tqdm(range(0, len(names), chunk), desc="retrieval: train videos", unit="chunk",
                      disable=not progress):
            embeds.append(cvsm.video(video[i:i + chunk].float(), thumbs[i:i + chunk]).embed)  # (b, D)
    return names, torch.cat(embeds)


__all__ = ["SCORE_SYSTEMS", "SYSTEMS", "SYSTEM_NAMES", "TWO_STEP_SEED_OFFSET", "Composer", "Generated", "Real",
           "Retrieved", "RoundTrip", "Run", "Stems", "System", "train_video_embeddings"]
