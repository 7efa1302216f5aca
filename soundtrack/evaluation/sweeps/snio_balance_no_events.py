"""SNIO's balance weight in windows without visual events (docs/method/snio.md eq. 8b), on the
requests of the video that has none (Big Buck Bunny).

Chosen on that video alone: 0.4 left no silent effects stem and kept the requested families
(docs/RESULTS.md, Controls; docs/DECISIONS.md). `--videos` names other asset videos.
"""
from soundtrack.config import GenerationConfig, ScoreWeights
from soundtrack.evaluation.sweeps import CONTROLS, Sweep, Variant

WEIGHTS = (0.1, 0.4, 1.0, 3.0)  # 0.4: as shipped

SWEEP = Sweep(
    name="snio_balance_no_events",
    about="SNIO's balance weight without visual events (snio.md eq. 8b) on the control requests",
    measure=CONTROLS,
    variants=tuple(Variant(f"balance_no_events={w:g}",
                           GenerationConfig(weights=ScoreWeights(balance_no_events=w))) for w in WEIGHTS),
    videos=("bigbuckbunny.mp4",),
)
