"""The command line: results as JSON, and clear errors with exit codes, never tracebacks."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.api.conftest import SEMSEARCH, server_env
from tests.conftest import REPO

PUBLISHED_STS_B = 77.73


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([SEMSEARCH, *args], env=server_env(data_dir), cwd=REPO,
                          capture_output=True, text=True, timeout=900)


@pytest.mark.parametrize("command", [[], ["model"], ["eval"], ["builds"], ["db"]])
def test_every_command_has_help(tmp_path: Path, command: list[str]) -> None:
    result = run(tmp_path, *command, "--help")
    assert result.returncode == 0 and "Usage" in result.stdout


@pytest.mark.model
def test_embed_prints_json_vectors(tmp_path: Path) -> None:
    result = run(tmp_path, "embed", "退款多久到账", "怎么改地址", "--kind", "passage")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["dimension"] == 384 and payload["kind"] == "passage"
    assert [len(d["embedding"]) for d in payload["data"]] == [384, 384]


@pytest.mark.model
@pytest.mark.parametrize("text", ["", "   \u3000 "])
def test_empty_text_is_a_clear_error_with_exit_code_2(tmp_path: Path, text: str) -> None:
    result = run(tmp_path, "embed", text)
    assert result.returncode == 2
    assert "error: text #0 is empty" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.model
def test_similarity_prints_scores_and_bands(tmp_path: Path) -> None:
    result = run(tmp_path, "similarity", "密码忘了怎么办", "忘记密码如何找回", "今天天气怎么样", "--json")
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)["results"]
    assert rows[0]["score"] > rows[1]["score"]
    assert {r["band"] for r in rows} <= {"high", "medium", "low", "none"}


def test_missing_pairs_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run(tmp_path, "eval", "pairs", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2 and "cannot open" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.model
def test_gbk_source_is_refused_with_the_reason(tmp_path: Path) -> None:
    source = tmp_path / "faq.csv"
    source.write_bytes("id,question\na1,怎么退款\n".encode("gbk"))
    result = run(tmp_path, "reindex", str(source))
    assert result.returncode == 2 and "not valid UTF-8" in result.stderr and "GBK" in result.stderr


def test_query_on_an_empty_database_names_the_missing_collection(tmp_path: Path) -> None:
    result = run(tmp_path, "query", "退款")
    assert result.returncode == 1 and "collection 'default' does not exist" in result.stderr


@pytest.mark.model
@pytest.mark.slow
def test_sts_b_fidelity_of_the_bundled_model(tmp_path: Path, datasets_dir: Path) -> None:
    """The bundled model through our encoder reproduces the published C-MTEB figure."""
    result = run(tmp_path, "eval", "pairs", str(datasets_dir / "sts_b_zh" / "pairs.jsonl"), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 1361
    assert abs(metrics["spearman"] - PUBLISHED_STS_B) <= 1.5, metrics
