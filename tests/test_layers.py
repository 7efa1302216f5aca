"""The import rules of the package (docs/ARCHITECTURE.md): each layer imports only from the layers below
it, so the path of the data reads from the folder names and inference never pulls in the corpus,
training, evaluation or the studio. Imports inside functions count too."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import soundtrack

ROOT = Path(soundtrack.__file__).parent
# lowest first; a module may import its own layer and the layers below
LAYERS = (
    ("errors", "config"),
    ("music",),
    ("audio", "video", "render"),
    ("models",),
    ("sampling",),
    ("pipeline",),
    ("output", "plots"),
    ("corpus", "training", "evaluation", "studio", "cli", "__main__"),
)
RANK = {name: k for k, names in enumerate(LAYERS) for name in names}
INFERENCE = ("music", "audio", "video", "render", "models", "sampling", "pipeline")
NEVER_FROM_INFERENCE = ("corpus", "training", "evaluation", "studio")


def top(path: Path) -> str:
    """The first component under soundtrack/ of a module file ('pipeline', 'config', ...)."""
    rel = path.relative_to(ROOT)
    return rel.parts[0].removesuffix(".py")


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, first component under soundtrack) of every soundtrack import in the file."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
            if node.module == "soundtrack":  # from soundtrack import corpus
                names += [f"soundtrack.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "soundtrack" and len(parts) > 1:
                out.append((node.lineno, parts[1]))
    return out


MODULES = sorted(p for p in ROOT.rglob("*.py") if top(p) != "__init__")


def test_every_module_has_a_layer() -> None:
    assert {top(p) for p in MODULES} <= set(RANK), {top(p) for p in MODULES} - set(RANK)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_imports_run_downwards(path: Path) -> None:
    here = top(path)
    bad = [f"line {line}: soundtrack.{name}" for line, name in imported(path)
           if name in RANK and RANK[name] > RANK[here]]
    assert not bad, f"{path.relative_to(ROOT)} ({here}) imports upwards: {bad}"


def test_inference_never_imports_corpus_training_evaluation_or_studio() -> None:
    bad = [f"{p.relative_to(ROOT)} line {line}: soundtrack.{name}" for p in MODULES if top(p) in INFERENCE
           for line, name in imported(p) if name in NEVER_FROM_INFERENCE]
    assert not bad, bad


def test_the_rule_checker_sees_lazy_imports(tmp_path: Path) -> None:
    """A function-level import is found (the rule is about what a module can pull in)."""
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from soundtrack.corpus.cache import load_split\n"
                 "    import soundtrack.studio.ui\n")
    assert [name for _, name in imported(f)] == ["corpus", "studio"]
