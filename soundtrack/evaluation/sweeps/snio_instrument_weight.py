"""SNIO's instrument weight (lambda_i of docs/method/snio.md eq. 8) on the control requests.

Lowering it bought tempo on the first seeds but not on other seeds (`--seed 100`), and cost
requested families; raising it did not move the judge (`--tempos 3`: the first 12 requests).
The weight stays 1 (docs/RESULTS.md, Controls).
"""
from soundtrack.config import GenerationConfig, ScoreWeights
from soundtrack.evaluation.sweeps import CONTROLS, Sweep, Variant

WEIGHTS = (0.25, 0.5, 1.0, 2.0, 4.0)  # 1.0: as shipped

SWEEP = Sweep(
    name="snio_instrument_weight",
    about="SNIO's instrument weight (snio.md eq. 8) on the control requests",
    measure=CONTROLS,
    variants=tuple(Variant(f"instruments={w:g}", GenerationConfig(weights=ScoreWeights(instruments=w)))
                   for w in WEIGHTS),
)
