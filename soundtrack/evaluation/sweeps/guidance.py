"""FAD against the sampler's two guidance weights (docs/method/sdma.md eqs. 14, 14b): the CFG
scale w and the grid guidance w_g, without SNIO, on the evaluation's clips and seeds.

The first variant (the shipped pair, w = 3 and w_g = 5) reproduces the evaluation's `no_snio`
row. No pair closes the gap to the decoder's floor (docs/RESULTS.md, Evaluation).
"""
from soundtrack.config import GenerationConfig, SamplerConfig
from soundtrack.evaluation.sweeps import EVALUATION, Sweep, Variant

PAIRS = ((3.0, 5.0), (2.0, 5.0), (3.0, 2.5), (2.0, 2.5), (4.0, 5.0))  # (w, w_g); the first as shipped

SWEEP = Sweep(
    name="guidance",
    about="CFG scale and grid guidance (sdma.md eqs. 14, 14b): FAD, sync and tempo without SNIO",
    measure=EVALUATION,
    variants=tuple(Variant(f"w={w:g},w_g={w_g:g}", GenerationConfig(sampler=SamplerConfig(grid_guidance=w_g)),
                           settings={"guidance": w, "snio_iters": 0}) for w, w_g in PAIRS),
    metrics=("fad",),
    n=30,
)
