"""FAD against the number of sampler steps at the shipped guidance (w = 3, w_g = 5), without
SNIO, on the evaluation's clips and seeds.

The sampler has converged at the shipped 10 steps: 20 and 40 move FAD, sync and tempo by
little (docs/RESULTS.md, Evaluation).
"""
from soundtrack.config import GenerationConfig, SamplerConfig
from soundtrack.evaluation.sweeps import EVALUATION, Sweep, Variant

STEPS = (10, 20, 40)  # 10: as shipped

SWEEP = Sweep(
    name="sampler_steps",
    about="DPM-Solver++ steps at w = 3, w_g = 5: FAD, sync and tempo without SNIO",
    measure=EVALUATION,
    variants=tuple(Variant(f"steps={k}", GenerationConfig(sampler=SamplerConfig(grid_guidance=5.0)),
                           settings={"guidance": 3.0, "steps": k, "snio_iters": 0}) for k in STEPS),
    metrics=("fad",),
    n=30,
)
