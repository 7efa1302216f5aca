"""The stem-leakage probe: does a stem sound like the other one?

A music-vs-effects logistic regression on stats embeddings (soundtrack/audio/embeddings.py),
trained on the real stems of the first `LEAKAGE_ITEMS` train items (their embeddings cached
in `corpus/cache/`). `stem_leakage` reads P(effects | music stem) and P(music | effects
stem): lower is better, and the real stems' own value is the classifier's floor. (A
clip-level stand-in for the windowed CNN of docs/method/sdma.md §5.)
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soundtrack.errors import InputError
from soundtrack.evaluation.items import STEMS, read_stem

LEAKAGE_ITEMS = 300  # train items whose real stems train the leakage classifier
LEAKAGE_L2 = 1e-2  # ridge on the standardised-feature weights
STATS_CACHE_VERSION = 1


@dataclass(frozen=True)
class StemClassifier:
    """Logistic regression P(effects | stats embedding) on standardised features."""

    mean: np.ndarray  # (D,)
    scale: np.ndarray  # (D,)
    weight: np.ndarray  # (D,)
    bias: float
    train_accuracy: float
    n_train: int

    def p_effects(self, emb: np.ndarray) -> np.ndarray:
        """(N, D) stats embeddings -> (N,) P(effects)."""
        from scipy.special import expit

        return expit(((emb - self.mean) / self.scale) @ self.weight + self.bias)


def fit_stem_classifier(music: np.ndarray, sfx: np.ndarray, *, l2: float = LEAKAGE_L2) -> StemClassifier:
    """Fit on real stems' stats embeddings `music (N, D)` (label 0) and `sfx (M, D)` (label 1).

    L2-regularised logistic loss, minimised by scipy's L-BFGS from zero: deterministic, and
    no scikit-learn (not a dependency of this project).
    """
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    x = np.concatenate([music, sfx]).astype(np.float64)  # (N + M, D)
    y = np.concatenate([np.zeros(len(music)), np.ones(len(sfx))])  # (N + M,)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-8
    xs = (x - mean) / scale

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        w, b = theta[:-1], theta[-1]
        logit = xs @ w + b
        nll = -np.mean(y * log_expit(logit) + (1 - y) * log_expit(-logit)) + 0.5 * l2 * w @ w
        r = (expit(logit) - y) / len(y)  # (N + M,) d nll / d logit
        return float(nll), np.concatenate([xs.T @ r + l2 * w, [r.sum()]])

    theta = minimize(loss, np.zeros(xs.shape[1] + 1), jac=True, method="L-BFGS-B",
                     options={"maxiter": 500}).x
    clf = StemClassifier(mean=mean, scale=scale, weight=theta[:-1], bias=float(theta[-1]),
                         train_accuracy=0.0, n_train=len(y))
    acc = float(np.mean((clf.p_effects(x) > 0.5) == (y > 0.5)))
    return dataclasses.replace(clf, train_accuracy=acc)


def train_stats_embeddings(corpus: Path, *, n_items: int = LEAKAGE_ITEMS,
                           progress: bool = True) -> dict[str, np.ndarray]:
    """Stats embeddings of the real music and sfx stems of the first `n_items` train items,
    cached in `corpus/cache/`: {"music": (N, D), "sfx": (N, D)}."""
    from tqdm import tqdm

    from soundtrack.audio.embeddings import stats_embedding

    items = sorted(p.parent for p in (corpus / "train").glob("*/labels.json"))[:n_items]
    if not items:
        raise InputError(f"no items in {corpus / 'train'}: the leakage classifier trains on the train split")
    path = corpus / "cache" / f"stats-embeddings-train-{len(items)}-v{STATS_CACHE_VERSION}.npz"
    if path.is_file():
        cached = np.load(path)
        return {stem: cached[stem] for stem in STEMS}
    out: dict[str, list[np.ndarray]] = {stem: [] for stem in STEMS}
    for item in tqdm(items, desc="leakage probe: train stems", unit="item", disable=not progress):
        for stem in STEMS:
            out[stem].append(stats_embedding(read_stem(item, stem)))
    arrays = {stem: np.stack(v) for stem, v in out.items()}  # (N, D) each
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.part.npz")
    np.savez(tmp, **arrays)
    os.replace(tmp, path)
    return arrays


def leakage_probe(corpus: Path, *, progress: bool = True) -> StemClassifier:
    """The classifier fitted on the real stems of the corpus's first LEAKAGE_ITEMS train items."""
    stats = train_stats_embeddings(corpus, progress=progress)
    return fit_stem_classifier(stats["music"], stats["sfx"])


def stem_leakage(clf: StemClassifier, stats: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-item leakage (n,) of each stem from its stats embeddings {"music"|"sfx": (n, D)}:
    P(effects | music stem) and P(music | effects stem); lower is better."""
    return {"music": clf.p_effects(stats["music"]), "sfx": 1.0 - clf.p_effects(stats["sfx"])}


__all__ = ["LEAKAGE_ITEMS", "LEAKAGE_L2", "STATS_CACHE_VERSION", "StemClassifier", "fit_stem_classifier",
           "leakage_probe", "stem_leakage", "train_stats_embeddings"]
