"""What the studio process shares between its sessions, in one object that app.py makes and hands down.

    state = StudioState()                    # where the model, takes and votes are (read once, now)
    demo = build_ui(state)                   # every handler reaches the pipelines and votes through it
    state.pipeline("full")                   # loaded on first use, once per process
    state.pipeline(state.variant_of("score"))  # the score engine: its diffusion model beside the others

Nothing is a module global: two states (tests, two studios in one process) share nothing.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from soundtrack.config import AUDIO, DEFAULT_ENGINE, ENGINES
from soundtrack.errors import InputError
from soundtrack.models.checkpoint import FOLDERS, checkpoint_root
from soundtrack.pipeline import SoundtrackPipeline, load_bundled
from soundtrack.studio.ab import ABStore

STUDIO_DIR_ENV = "SOUNDTRACK_STUDIO_DIR"  # where takes are written (default: the system temp dir)
AB_DB_ENV = "SOUNDTRACK_AB_DB"  # the vote database (default: ~/.cache/soundtrack/ab.sqlite)
# pipeline variant -> its diffusion model (checkpoint.FOLDERS); "full" and "score" are the two engines
VARIANTS = {"full": "ldm", "nosdma": "ldm-nosdma", "score": "score"}
ENGINE_VARIANTS = {"neural": "full", "score": "score"}  # engine (config.ENGINES) -> its variant
ENGINE_WORDS = {"score": "score: notes played by sampled instruments",
                "neural": "neural: audio written by the model"}


class StudioState:
    """The loaded pipelines, the vote store and the folders of one studio process.

    checkpoints: the model folder (default: $SOUNDTRACK_CHECKPOINTS, else the bundled
    checkpoints/); takes_dir: where sessions write their takes (default: $SOUNDTRACK_STUDIO_DIR,
    else the system temp dir); ab_db: the vote database (default: $SOUNDTRACK_AB_DB, else
    ~/.cache/soundtrack/ab.sqlite). The environment is read once, here.
    """

    def __init__(self, *, checkpoints: Path | str | None = None, takes_dir: Path | str | None = None,
                 ab_db: Path | str | None = None) -> None:
        self.checkpoints = checkpoint_root(checkpoints)
        self.takes_dir = Path(takes_dir or os.environ.get(STUDIO_DIR_ENV)
                              or Path(tempfile.gettempdir()) / "soundtrack-studio")
        self.ab_db = Path(ab_db or os.environ.get(AB_DB_ENV)
                          or Path.home() / ".cache" / "soundtrack" / "ab.sqlite").expanduser()
        self._lock = threading.Lock()
        self._pipelines: dict[str, SoundtrackPipeline] = {}
        self._store: ABStore | None = None
        self._names: dict[Path, str] = {}  # run folder -> "folder@hash"

    @property
    def media_dir(self) -> Path:
        """Where the A/B pairs' videos are kept, beside the database (served by the studio)."""
        return self.ab_db.with_name(f"{self.ab_db.stem}-media")

    def has_variant(self, variant: str) -> bool:
        """Whether the model folder holds this variant's diffusion model (cheap: no loading)."""
        return (self.checkpoints / FOLDERS[VARIANTS[variant]] / "model.safetensors").is_file()

    def engines(self) -> list[str]:
        """The engines whose diffusion model is installed (config.ENGINES order)."""
        return [e for e in ENGINES if self.has_variant(ENGINE_VARIANTS[e])]

    def default_engine(self) -> str:
        """config.DEFAULT_ENGINE when its model is installed, else an installed one (else the default,
        whose take then says its model is missing)."""
        installed = self.engines()
        return DEFAULT_ENGINE if DEFAULT_ENGINE in installed or not installed else installed[0]

    def variant_of(self, engine: str) -> str:
        """The pipeline variant of an engine ("neural" or "score"); one line for anything else or for an
        engine whose model is not installed."""
        if not isinstance(engine, str) or engine not in ENGINES:
            raise InputError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        variant = ENGINE_VARIANTS[engine]
        if not self.has_variant(variant) and self.engines():
            folder = self.checkpoints / FOLDERS[VARIANTS[variant]]
            raise InputError(f"the {engine} engine's model is not installed ({folder}); installed: "
                             f"{', '.join(self.engines())}")
        return variant

    def pipeline(self, variant: str = "full") -> SoundtrackPipeline:
        """The pipeline of a variant ("full" the neural engine, "nosdma" its SDMA ablation, "score" the
        score engine), loaded on first use."""
        if variant not in VARIANTS:
            raise InputError(f"unknown model variant {variant!r}; known: {', '.join(VARIANTS)}")
        with self._lock:
            if variant not in self._pipelines:
                loaded = next(iter(self._pipelines.values()), None)  # its codec and CVSM serve every variant
                try:
                    models = (loaded.models.with_ldm(self.checkpoints / FOLDERS[VARIANTS[variant]]) if loaded
                              else load_bundled(self.checkpoints, ldm=VARIANTS[variant]))
                except InputError as e:
                    raise InputError(f"the model is not installed: {e}") from None
                self._pipelines[variant] = SoundtrackPipeline(models)
            return self._pipelines[variant]

    def model_names(self, variant: str = "full") -> dict[str, str]:
        """Stage -> "folder@hash" of a variant's models: the run folder's name and the first 10 hex
        digits of its model.safetensors' SHA-256. Reports, the API and votes name models by it,
        never by a server path. Hashed once per process."""
        runs = self.pipeline(variant).models.runs()
        with self._lock:
            for run in map(Path, runs.values()):
                if run not in self._names:
                    self._names[run] = f"{run.name}@{_short_hash(run / 'model.safetensors')}"
            return {stage: self._names[Path(run)] for stage, run in runs.items()}

    def public_report(self, report: dict, variant: str = "full") -> dict:
        """A take's report with its models named (model_names) instead of given as server paths."""
        return {**report, "models": self.model_names(variant)}

    def loaded(self, variant: str = "full") -> bool:
        return variant in self._pipelines

    def store(self) -> ABStore:
        """The vote store (ABStore is safe to share between threads)."""
        with self._lock:
            if self._store is None:
                self.ab_db.parent.mkdir(parents=True, exist_ok=True)
                self._store = ABStore(self.ab_db)
            return self._store

    def warm_up(self) -> bool:
        """Pay at start-up what the first take would (about 5 s on 2 cores): load the model, then
        measure the tempo of four seconds of clicks (numba compiles librosa's beat tracker on
        first use) and draw their spectrogram (matplotlib's first figure), as writing a take
        does. False, quietly, if the model is not installed: the studio says so when a take is
        asked for."""
        try:
            self.pipeline(ENGINE_VARIANTS[self.default_engine()])
        except InputError:
            return False
        from soundtrack.audio.tempo import measure_tempo
        from soundtrack.plots import spectrogram_png

        clicks = np.zeros(4 * AUDIO.sample_rate, np.float32)
        clicks[:: AUDIO.sample_rate // 2] = 1.0  # 120 BPM for four seconds
        _, beats = measure_tempo(clicks)
        with tempfile.TemporaryDirectory() as tmp:
            spectrogram_png(Path(tmp) / "warm-up.png", music16=clicks, sfx16=clicks, mix16=clicks, events=[],
                            beats=beats)
        return True


def _short_hash(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()[:10]


__all__ = ["AB_DB_ENV", "ENGINE_VARIANTS", "ENGINE_WORDS", "STUDIO_DIR_ENV", "VARIANTS", "StudioState"]
