"""The dependency direction api -> indexer -> search, and where heavy imports live."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import REPO


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _files(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


@pytest.mark.parametrize(("package", "forbidden"), [
    ("search", {"api", "indexer", "fastapi", "typer", "uvicorn"}),
    ("indexer", {"api", "fastapi", "uvicorn"}),
])
def test_dependency_direction(package: str, forbidden: set[str]) -> None:
    offenders = {str(p.relative_to(REPO)): sorted(_imports(p) & forbidden) for p in _files(package)}
    assert not {k: v for k, v in offenders.items() if v}


def test_only_the_encoder_imports_torch_and_transformers() -> None:
    heavy = {"torch", "transformers"}
    users = [str(p.relative_to(REPO)) for pkg in ("search", "indexer", "api")
             for p in _files(pkg) if _imports(p) & heavy]
    assert users == ["search/encoder.py", "search/tracing.py"]  # tracing: the encoder's forward pass


def test_only_the_index_module_imports_faiss() -> None:
    users = [str(p.relative_to(REPO)) for pkg in ("search", "indexer", "api")
             for p in _files(pkg) if "faiss" in _imports(p)]
    assert users == ["search/index.py"]


def test_runtime_files_in_the_data_directory_are_ignored_by_git() -> None:
    """What the product writes under data/ never shows up as untracked."""
    import subprocess

    runtime = ["data/.reindex.lock", "data/semsearch.db", "data/semsearch.db-wal",
               "data/semsearch.db-shm", "data/builds/c1-x.faiss", "data/builds/c1-x.faiss.tmp",
               "data/models/multilingual-e5-small-q4/model.safetensors",
               "data/models/precision-choice.json", "data/profiles/m.json", "data/milvus.db"]
    done = subprocess.run(["git", "check-ignore", "--no-index", *runtime], cwd=REPO,
                          capture_output=True, text=True)
    assert sorted(done.stdout.split()) == sorted(runtime)
