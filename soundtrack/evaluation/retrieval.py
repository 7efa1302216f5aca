"""CVSM retrieval (docs/method/cvsm.md eq. 8): does a clip's video find its own music and effects?

Every item of a split is embedded once by the three encoders; each query (a video, or a
music stem) is then ranked against n candidates, its own item and the others of its fixed
consecutive group, and R@1 / R@5 are the shares of queries whose own item ranks within the
first 1 / 5. Chance R@1 is 1/n.
"""
from __future__ import annotations

import torch

from soundtrack.corpus.cache import CorpusArrays
from soundtrack.models.cvsm import CVSM


@torch.no_grad()
def _embed_all(model: CVSM, arrays: CorpusArrays, *, device: str | torch.device,
               chunk: int = 16) -> dict[str, torch.Tensor]:
    """Global embeddings of every item: {"video", "music", "effects"} -> (N, embed_dim)."""
    out: dict[str, list[torch.Tensor]] = {"video": [], "music": [], "effects": []}
    for i in range(0, len(arrays), chunk):
        s = slice(i, i + chunk)
        out["video"].append(model.video(arrays.video[s].to(device), arrays.thumbs[s].to(device)).embed.cpu())
        out["music"].append(model.music(arrays.music_mel[s].to(device)).embed.cpu())
        out["effects"].append(model.effects(arrays.sfx_mel[s].to(device)).embed.cpu())
    return {k: torch.cat(v) for k, v in out.items()}


def _recall(query: torch.Tensor, keys: torch.Tensor, *, n: int,
            ks: tuple[int, ...] = (1, 5)) -> dict[int, float]:
    """Recall@k of query i finding key i among the n candidates of its group (eq. 8)."""
    N = len(query)
    hits = {k: 0 for k in ks}
    for i in range(0, N, n):
        start = min(i, N - n)  # the last group is the last n items, so every query sees n candidates
        sims = query[i:i + n] @ keys[start:start + n].T  # (q, n)
        own = torch.arange(i, min(i + n, N)) - start  # (q,) column of each query's own item
        rank = (sims > sims.gather(1, own[:, None])).sum(dim=1)  # (q,) 0 = ranked first
        for k in ks:
            hits[k] += int((rank < k).sum())
    return {k: hits[k] / N for k in ks}


def retrieval(model: CVSM, arrays: CorpusArrays, *, n_candidates: int = 100,
              device: str | torch.device = "cpu") -> dict[str, float]:
    """R@1 and R@5 of video->music, video->effects and music->video (protocol of eq. 8).

    Each query is scored among n = min(n_candidates, N) candidates: its own item and the
    others of its fixed consecutive group. Chance R@1 is 1/n.
    """
    was_training = model.training
    model.eval()
    z = _embed_all(model, arrays, device=device)
    model.train(was_training)
    n = min(n_candidates, len(arrays))
    result: dict[str, float] = {"n_candidates": float(n), "chance_r1": 1.0 / n}
    for name, q, k in (("video_music", "video", "music"), ("video_effects", "video", "effects"),
                       ("music_video", "music", "video")):
        r = _recall(z[q], z[k], n=n)
        result[f"{name}_r1"], result[f"{name}_r5"] = r[1], r[5]
    return result


__all__ = ["retrieval"]
