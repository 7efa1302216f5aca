"""Shared fixtures: a tiny real corpus (built once per test session) for model tests."""
from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """20 items (16 train, 2 val, 2 test) built by the real corpus builder, with caches."""
    from soundtrack.corpus.build import BuildOptions, build_corpus
    from soundtrack.corpus.cache import load_split

    root = tmp_path_factory.mktemp("tiny_corpus")
    build_corpus(root, n=20, opts=BuildOptions(seed=1), workers=2, progress=False)
    for split in ("train", "val", "test"):
        load_split(root, split, workers=2, progress=False)
    return root


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One intra-op thread per test: tiny models gain nothing from threads, and on the
    shared 2-core machine two OpenMP threads under contention ran them 10-50x slower."""
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
