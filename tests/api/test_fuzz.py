"""schemathesis over every operation of /openapi.json, with and without an API key, on a
real server (bench/fuzz.py): no generated input may get a 5xx."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.longest(minutes=1)]


def test_no_operation_answers_5xx_to_generated_input() -> None:
    done = subprocess.run([sys.executable, "bench/fuzz.py", "--max-examples", "5", "--seed", "7"],
                          cwd=REPO, capture_output=True, text=True, timeout=900)
    report = json.loads((REPO / "bench" / "results" / "fuzz.json").read_text())
    assert done.returncode == 0, done.stdout[-4000:]
    assert [r["server_errors"] for r in report["runs"]] == [0, 0]
    assert all(r["cases"] > 300 for r in report["runs"]), report["runs"]  # every operation ran
