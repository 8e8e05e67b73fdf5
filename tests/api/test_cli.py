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
def test_embed_prints_one_json_array_per_text(tmp_path: Path) -> None:
    result = run(tmp_path, "embed", "退款多久到账", "怎么改地址", "--kind", "passage")
    assert result.returncode == 0, result.stderr
    vectors = [json.loads(line) for line in result.stdout.splitlines()]
    assert [len(v) for v in vectors] == [384, 384] and all(isinstance(x, float) for x in vectors[0])
    detailed = run(tmp_path, "embed", "退款多久到账", "--json")
    row = json.loads(detailed.stdout)
    assert row["dimension"] == 384 and row["kind"] == "query" and len(row["embedding"]) == 384


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
    assert result.returncode == 2 and "collection 'default' does not exist" in result.stderr


@pytest.mark.model
@pytest.mark.slow
def test_sts_b_fidelity_of_the_bundled_model(tmp_path: Path, datasets_dir: Path) -> None:
    """The bundled model through our encoder reproduces the published C-MTEB figure."""
    result = run(tmp_path, "eval", "pairs", str(datasets_dir / "sts_b_zh" / "pairs.jsonl"), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert metrics["n"] == 1361
    assert abs(metrics["spearman"] - PUBLISHED_STS_B) <= 1.5, metrics


# --- arguments are checked before the model loads --------------------------------------
def run_without_model(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """The command with an empty models directory: one that loaded (or prepared) the
    model before checking its arguments would fail on the model, or take seconds."""
    env = server_env(tmp_path, SEMSEARCH_MODELS_DIR=str(tmp_path / "no-models"))
    return subprocess.run([SEMSEARCH, *args], env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def one_line_error(result: subprocess.CompletedProcess, code: int, *fragments: str) -> None:
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(f in lines[0] for f in fragments), lines[0]
    assert not (Path(result.args[0]).parent / "no-models").exists()


def test_a_missing_source_fails_before_the_model_loads(tmp_path: Path) -> None:
    result = run_without_model(tmp_path, "reindex", str(tmp_path / "nope.jsonl"))
    one_line_error(result, 2, "cannot read", "nope.jsonl")
    assert not (tmp_path / "no-models").exists()  # nothing was prepared


def test_a_bad_row_fails_before_the_model_loads(tmp_path: Path) -> None:
    source = tmp_path / "bad.jsonl"
    source.write_text('{"id": "a", "question": "好"}\n{"id": "b"}\n', "utf-8")
    result = run_without_model(tmp_path, "reindex", str(source))
    assert result.returncode == 2 and f"{source}:2: missing 'question'" in result.stderr
    assert not (tmp_path / "no-models").exists()


@pytest.mark.parametrize("args", [["embed", ""], ["embed", "\u200b"], ["similarity", "", "好"],
                                  ["query", "   "]])
def test_empty_texts_fail_before_the_model_loads(tmp_path: Path, args: list[str]) -> None:
    one_line_error(run_without_model(tmp_path, *args), 2, "empty")
    assert not (tmp_path / "no-models").exists()


def test_serve_on_a_busy_port_fails_at_once(tmp_path: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_without_model(tmp_path, "serve", "--port", str(port), "--index-sample")
    one_line_error(result, 2, f"127.0.0.1:{port}", "another --port")
    assert not (tmp_path / "no-models").exists() and not (tmp_path / "semsearch.db").exists()


def test_usage_errors_are_one_line_with_exit_code_2(tmp_path: Path) -> None:
    one_line_error(run_without_model(tmp_path, "reindex", "x.jsonl", "--bogus"), 2,
                   "No such option: --bogus", "semsearch reindex --help")
    one_line_error(run_without_model(tmp_path, "query", "退款", "--top-k", "0"), 2, "--top-k")


def test_unknown_collections_and_builds_are_bad_input(tmp_path: Path) -> None:
    one_line_error(run_without_model(tmp_path, "query", "退款", "--collection", "nope"), 2,
                   "collection 'nope' does not exist")
    one_line_error(run_without_model(tmp_path, "builds", "activate", "99"), 2, "build 99 does not exist")
    one_line_error(run_without_model(tmp_path, "builds", "list", "--collection", "nope"), 2, "nope")


def test_help_shows_square_brackets_as_written(tmp_path: Path) -> None:
    help_text = run(tmp_path, "eval", "retrieval", "--help").stdout
    assert "[default: settings]" in " ".join(help_text.split())


@pytest.mark.model
def test_query_and_builds_show_faq_text_as_written(tmp_path: Path) -> None:
    source = tmp_path / "markup.jsonl"
    source.write_text(json.dumps({"id": "m1", "question": "粗体标签[/b]怎么写[b]", "similar_questions":
                                  ["[similar]这个标签显示吗"]}, ensure_ascii=False) + "\n"
                      + json.dumps({"id": "m2", "question": "退款多久到账"}, ensure_ascii=False) + "\n",
                      "utf-8")
    assert run(tmp_path, "reindex", str(source), "--collection", "markup").returncode == 0
    env = server_env(tmp_path, COLUMNS="300")  # a wide table: no cell is wrapped
    result = subprocess.run([SEMSEARCH, "query", "粗体标签[/b]怎么写", "--collection", "markup"],
                            env=env, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    assert "粗体标签[/b]怎么写[b]" in result.stdout and "[question] 粗体标签" in result.stdout
    listed = run(tmp_path, "builds", "list")
    assert listed.returncode == 0 and "markup" in listed.stdout


def test_calibrate_takes_exactly_one_source_of_labels(tmp_path: Path) -> None:
    for args in ([], ["--collection", "default", "--retrieval", str(tmp_path)]):
        result = run_without_model(tmp_path, "calibrate", *args)
        one_line_error(result, 2, "give one of --collection")
    one_line_error(run_without_model(tmp_path, "calibrate", "--retrieval", str(tmp_path)), 2,
                   "is not a retrieval set: corpus.jsonl is missing")
    assert not (tmp_path / "no-models").exists()


@pytest.mark.model
@pytest.mark.slow
def test_calibrate_retrieval_fits_and_writes_the_model_prior(tmp_path: Path) -> None:
    """The sample FAQ as a retrieval set: its standard questions as the corpus, its 320
    dev questions as queries (no splits: the even-numbered ones are fitted on)."""
    folder = tmp_path / "sample-set"
    folder.mkdir()
    faq = [json.loads(x) for x in (REPO / "data" / "faq_sample.jsonl").read_text("utf-8").splitlines()]
    asked = [json.loads(x) for x in
             (REPO / "data" / "faq_sample_dev_queries.jsonl").read_text("utf-8").splitlines()]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(
        {"id": r["id"], "title": r.get("category", ""), "text": r["question"]}, ensure_ascii=False)
        + "\n" for r in faq), "utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(
        {"query": q["query"], "relevant_ids": [q["expected_id"]]}, ensure_ascii=False) + "\n"
        for q in asked), "utf-8")
    data_dir = tmp_path / "data"
    result = run(data_dir, "calibrate", "--retrieval", str(folder), "--write", "--json")
    assert result.returncode == 0, result.stderr[-2000:]
    found = json.loads(result.stdout)
    assert found["n"] == 160
    held_out = found["sets"]["sample-set"]["held_out"]
    assert held_out["n_questions"] == 160 and 0.3 < held_out["recall_at_1"] < 1
    t = found["thresholds"]
    assert t["high"] >= t["medium"] >= t["low"] and 0 <= t["margin"] <= 0.05
    written = json.loads(next((data_dir / "profiles").glob("*.json")).read_text("utf-8"))
    assert written["thresholds"] == t and written["calibration"]["n"] == 160


def test_audit_of_an_unknown_collection_fails_before_the_model_loads(tmp_path: Path) -> None:
    one_line_error(run_without_model(tmp_path, "audit", "--collection", "nope"), 2,
                   "collection 'nope' does not exist")
    assert not (tmp_path / "no-models").exists()
