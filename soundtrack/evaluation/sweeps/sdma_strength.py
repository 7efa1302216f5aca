"""SDMA's strengths at inference (docs/method/sdma.md §5.1): the cross-stem damping gamma
(eq. 11) and the routing lambda (eq. 8) of the trained SDMA model, against the trained
gamma = 4, lambda = 0.9; stem leakage, effects sync and tempo without SNIO, on the
evaluation's clips, seeds and leakage probe.
"""
from soundtrack.evaluation.sweeps import EVALUATION, Sweep, Variant

STRENGTHS = ((4.0, 0.9), (0.0, 0.9), (8.0, 0.9), (16.0, 0.9), (4.0, 0.0), (4.0, 1.0))  # (gamma, lambda)

SWEEP = Sweep(
    name="sdma_strength",
    about="SDMA's damping gamma and routing lambda at inference (sdma.md eqs. 8, 11): leakage, sync, tempo",
    measure=EVALUATION,
    variants=tuple(Variant(f"gamma={g:g},lam={lam:g}", settings={"snio_iters": 0},
                           sdma={"gamma": g, "lam": lam}) for g, lam in STRENGTHS),
    metrics=("leakage",),
    n=20,
)
