"""The whole video: :class:`SoundtrackPipeline`, a video and settings -> a :class:`Take`.

    pipe = SoundtrackPipeline(load_bundled())                     # checkpoints/, once per process
    take = pipe("clip.mp4", Settings(tempo=100, instruments={"piano": 1.0, "drums": 0.5}, balance=0.6))
    take.mix.mix                                                  # (2, T) float32, 48 kHz, the video's length
    for update in pipe.stream("clip.mp4", Settings(seed=3)):      # the same, one update per SNIO
        ...                                                       # iteration and per window

:meth:`SoundtrackPipeline.stream` reads top to bottom as numbered steps: analyse the video
once, resolve the tempo and the beat grid, draw every window's noise, generate each window
(soundtrack/pipeline/window.py: CVSM tokens and conditions, the outpainted overlap, the
guided sampler up to SNIO's step, SNIO, the rest of the sampler, decoder and vocoder), then
join the windows and mix. Per-request settings are arguments; nothing is global.
"""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from torch import Tensor

from soundtrack.audio.duck import load_original
from soundtrack.config import AUDIO, DEFAULT_ENGINE, ENGINES, GenerationConfig
from soundtrack.errors import InputError, readable_file
from soundtrack.models.ldm import is_score_model
from soundtrack.pipeline.loading import Models, load_bundled
from soundtrack.pipeline.mixdown import effects_stem, join_windows, mix_take, mix_with_original
from soundtrack.pipeline.notes import render_take, score_report, take_score
from soundtrack.pipeline.report import effects_report, loudness, notes, scores_summary
from soundtrack.pipeline.settings import Settings
from soundtrack.pipeline.take import Take, Update, UpdateKind
from soundtrack.pipeline.window import LATENT_SHAPE, WindowInputs, generate_window
from soundtrack.render.soundfonts import default_soundfont
from soundtrack.sampling.decode import vocode
from soundtrack.sampling.scores import Scorer
from soundtrack.sampling.snio import Cancelled
from soundtrack.video.plan import VideoPlan, prepare_video

PLAN_CACHE = 8  # analysed videos a pipeline keeps (by path, size and modification time)


class SoundtrackPipeline:
    """Video + settings -> a :class:`Take`; loaded once, settings per call.

    One generation holds the pipeline's lock (the SDMA controller inside the UNet keeps
    per-call state), so concurrent requests are safe and run one after another.
    config: the sampler's knobs, SNIO's settings and score weights (soundtrack.config);
    `iters` of its SNIO settings is replaced by each request's `snio_iters`.
    """

    def __init__(self, models: Models, config: GenerationConfig | None = None, *,
                 soundfont: str | None = None) -> None:
        if config is not None and not isinstance(config, GenerationConfig):
            raise TypeError(f"config must be a GenerationConfig, got {type(config).__name__}")
        self.models = models
        self.config = config or GenerationConfig()
        # engine "score": the diffusion model writes notes that sampled instruments play (`soundfont`:
        # a name of soundtrack/render/soundfonts.py, None its default); "neural": it writes audio
        self.soundfont = soundfont
        self.engine = "score" if is_score_model(models.ldm) else "neural"
        # SNIO's scores read decoded mels; a note roll's is a stand-in (sampling/decode.roll_mel) that
        # says where notes sound, not which instrument or how it sounds to CVSM: the score engine's
        # SNIO leaves those two out and reads the roll itself (score.md, "SNIO")
        neural = self.engine == "neural"
        self.scorer = Scorer(cvsm=models.cvsm if neural else None,
                             instruments=models.instruments if neural else None)
        self._lock = threading.Lock()
        self._plans: dict[tuple, VideoPlan] = {}

    @classmethod
    def bundled(cls, root: Path | str | None = None, config: GenerationConfig | None = None, *,
                engine: str = DEFAULT_ENGINE, soundfont: str | None = None) -> SoundtrackPipeline:
        """The shipped model of `engine` ("neural" or "score") from checkpoints/ (or `root`)."""
        if engine not in ENGINES:
            raise InputError(f"unknown engine {engine!r}; known: {', '.join(ENGINES)}")
        return cls(load_bundled(root, ldm=ENGINES[engine]), config, soundfont=soundfont)

    def plan(self, video: Path | str) -> VideoPlan:
        """The analysed video (cached by path, size and modification time)."""
        path = readable_file(video, kind="video")
        st = path.stat()
        key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
        if key not in self._plans:
            if len(self._plans) >= PLAN_CACHE:
                self._plans.pop(next(iter(self._plans)))
            self._plans[key] = prepare_video(path)
        return self._plans[key]

    def preview_wave(self, update: Update) -> np.ndarray:
        """(T,) float32 16 kHz mono preview of an update's window: its music and effects mels
        vocoded and summed (the studio's live audio). The score engine's music mel is a stand-in
        for its notes (sampling/decode.roll_mel), not sound: only its effects are vocoded here
        (the notes of a sampled window are played by notes.window_score + render_take)."""
        if update.music_mel is None or update.sfx_mel is None:
            raise ValueError(f"a {update.kind.value} update carries no preview")
        stems = [update.sfx_mel] if self.engine == "score" else [update.music_mel, update.sfx_mel]
        with torch.no_grad():
            mels = torch.stack(stems).to(self.models.device)  # (S, 64, F)
            waves = vocode(self.models.vocoder, mels)  # (S, T): [music,] effects
        return waves.sum(0).cpu().numpy().astype(np.float32)

    def __call__(self, video: Path | str, settings: Settings | None = None, **kw) -> Take:
        """Run :meth:`stream` to the end and return the take."""
        for update in self.stream(video, settings, **kw):
            if update.kind is UpdateKind.DONE:
                return update.take
        raise AssertionError("stream ended without a take")

    def stream(self, video: Path | str, settings: Settings | None = None, *,
               warm_offsets: list[Tensor] | None = None, cancel: threading.Event | None = None,
               on_step: Callable[[float], None] | None = None) -> Iterator[Update]:
        """Generate, yielding an :class:`Update` per SNIO iteration and per window, then DONE.

        warm_offsets: the `snio_offsets` of an earlier take of the same video and seed (warm
        start: SNIO goes on from where it ended there); cancel: set it to stop at the next
        iteration or sampler step (raises soundtrack.sampling.snio.Cancelled); on_step(progress).
        """
        # 1. Check inputs and analyse the video (cached)
        settings = settings or Settings()
        if not isinstance(settings, Settings):
            raise InputError(f"settings must be a Settings, got {type(settings).__name__}")
        t_start = time.perf_counter()
        timings: dict[str, float] = {}
        plan = self.plan(video)
        # the video's own sound, when kept: a broken track is refused before anything is generated
        original = (load_original(plan.path, duration_s=plan.duration_s) if settings.original == "keep"
                    else None)
        timings["analyse"] = time.perf_counter() - t_start
        # 2. The tempo (auto: the picture's), the controls and the beat grid (sdma.md eq. 2e)
        tempo = plan.tempo_for(settings.tempo)
        controls = settings.controls(tempo)
        grid = plan.beat_grid(tempo)
        windows = plan.windows
        n_win = len(windows)
        # 3. Every window's starting noise from the seed (window k: the k-th draw), and the warm start
        generator = torch.Generator().manual_seed(settings.seed)
        seed_noise = [torch.randn(LATENT_SHAPE, generator=generator) for _ in windows]
        warm = (warm_offsets is not None and len(warm_offsets) == n_win
                and all(n.shape == LATENT_SHAPE for n in warm_offsets))
        offsets = [n.detach().clone() for n in warm_offsets] if warm else [None] * n_win
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

        outs = []
        timings.update(cvsm=0.0, snio=0.0, sample=0.0, decode=0.0, vocode=0.0)
        with self._lock:
            prev: Tensor | None = None
            for win in windows:
                # 4. One window (soundtrack/pipeline/window.py), continuing the previous one's overlap
                out = yield from generate_window(
                    self.models, self.scorer, self.config, inputs=WindowInputs.from_plan(plan, win, grid),
                    settings=settings, controls=controls, noise=seed_noise[win.index],
                    offset=offsets[win.index], prev=prev, n_windows=n_win, grid=grid, tick=tick,
                    cancel=cancel)
                for k, v in out.timings.items():
                    timings[k] += v
                prev = out.z
                outs.append(out)
                yield Update(UpdateKind.WINDOW, win.index, n_win, done[0] / work, scores=out.report["output"],
                             iteration=settings.snio_iters, music_mel=out.music_mel[0],
                             sfx_mel=out.sfx_mel[0], grid=grid, roll=out.roll)
        # 5. Join the windows (crossfade over the overlap) and cut to the video's length
        t0 = time.perf_counter()
        n_out = int(round(plan.duration_s * AUDIO.sample_rate))
        music16, sfx16 = (join_windows([o.wave[i] for o in outs], n_out) for i in (0, 1))
        score = music48 = None
        if self.engine == "score":  # 5b. The notes of every window as one score, played (notes.py)
            score = take_score([o.roll for o in outs], [w.start_s for w in windows], controls=controls,
                               grid=grid, duration_s=plan.duration_s)
            t1 = time.perf_counter()
            music48, music16 = render_take(score, soundfont=self.soundfont)
            timings["render"] = time.perf_counter() - t1
        # 6. The effects: played by real recordings at 48 kHz (render/effects.py), or the model's audio
        t1 = time.perf_counter()
        fx = effects_stem(sfx16, events=list(plan.events), effects=settings.effects)
        timings["effects"] = time.perf_counter() - t1
        # 7. Mix: effects panned by where they happen in the picture, balance, loudness, true peak; the
        # video's own sound kept under the soundtrack, which ducks where it is loud (audio/duck.py)
        mix = mix_take(music16 if music48 is None else music48, fx.sfx16, events=list(plan.events),
                       balance=settings.balance, sfx48=fx.sfx48)
        mix = mix_with_original(mix, original, original_db=settings.original_db)
        timings["mix"] = time.perf_counter() - t0 - timings.get("render", 0.0) - timings["effects"]
        timings["total"] = time.perf_counter() - t_start
        windows_report = [o.report for o in outs]
        samp = self.config.sampler
        report = {
            "engine": self.engine, "settings": settings.to_dict(), "tempo_requested_bpm": tempo,
            "tempo_auto": settings.tempo == "auto", "beat_grid": grid.to_dict(), "models": self.models.runs(),
            "sampler": {"grid_guidance": samp.grid_guidance,
                        "snio_at_step": self.config.snio.step(settings.steps),
                        "snio_lr": self.config.snio.lr, "hold_until": samp.hold_until},
            "video": {"file": plan.path.name, "duration_s": plan.duration_s, "events": len(plan.events)},
            "windows": windows_report, "timings_s": timings,
            "scores": scores_summary(windows_report),
            "loudness": loudness(mix),
            "effects": effects_report(fx.sfx16, event_times=[e.time for e in plan.events], mode=settings.effects,
                                      placements=fx.placements),
            "notes": notes(has_events=bool(plan.events), balance=settings.balance),
        }
        if score is not None:
            report["score"] = score_report(score, soundfont=self.soundfont or default_soundfont())
        take = Take(settings=settings, tempo_bpm=tempo, music16=music16, sfx16=fx.sfx16, mix=mix,
                    duration_s=plan.duration_s, grid=grid, events=list(plan.events),
                    snio_offsets=[o.offset for o in outs], report=report, score=score, music48=music48,
                    sfx48=fx.sfx48, sfx_neural16=None if fx.sfx48 is None else fx.neural16, original48=original)
        yield Update(UpdateKind.DONE, n_win - 1, n_win, 1.0, scores=report["scores"]["output"], grid=grid,
                     take=take)


__all__ = ["SoundtrackPipeline"]
