"""Generation: a video and the musician's settings -> a music stem, an effects stem, a mix.

    pipe = SoundtrackPipeline(load_bundled())            # checkpoints/, once per process
    take = pipe("clip.mp4", Settings(tempo=100, instruments={"piano": 1.0, "drums": 0.5}))

The package reads in the order the data flows:
- settings.py  what a musician asks for (Settings, its JSON; Controls: the tempo resolved)
- loading.py   the trained models of one generator (Models)
- window.py    ONE 10.24 s window, generated (CVSM, guided sampler, SNIO, decoder, vocoder)
- stream.py    the whole video: numbered steps over the windows (SoundtrackPipeline)
- take.py      what it yields (Update, UpdateKind) and returns (Take)
- mixdown.py   windows joined, stems mixed, a re-mix at another balance
- notes.py     the score engine: window rolls -> one Score -> sampled instruments; re-orchestration
- report.py    the take's report
"""
from soundtrack.pipeline.loading import Models, load_bundled, load_models
from soundtrack.pipeline.mixdown import heard_frames, join_windows, mix_take, remix
from soundtrack.pipeline.notes import reorchestrate_take
from soundtrack.pipeline.report import NO_EVENTS_NOTE
from soundtrack.pipeline.settings import (DEFAULT_INSTRUMENTS, MAX_SNIO_ITERS, MAX_STEPS, Controls, Settings,
                                          instruments_text, parse_instruments)
from soundtrack.pipeline.stream import SoundtrackPipeline
from soundtrack.pipeline.take import Take, Update, UpdateKind
from soundtrack.pipeline.window import LATENT_SHAPE, WindowInputs, WindowOutput, generate_window

__all__ = ["DEFAULT_INSTRUMENTS", "LATENT_SHAPE", "MAX_SNIO_ITERS", "MAX_STEPS", "NO_EVENTS_NOTE", "Controls",
           "Models", "Settings", "SoundtrackPipeline", "Take", "Update", "UpdateKind", "WindowInputs",
           "WindowOutput", "generate_window", "heard_frames", "instruments_text", "join_windows",
           "load_bundled", "load_models", "mix_take", "parse_instruments", "remix", "reorchestrate_take"]
