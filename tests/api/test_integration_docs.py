"""Every code block of docs/integrations.md runs against the live server: python blocks in
this process, bash blocks (curl) in a shell, with the documented address replaced."""
from __future__ import annotations

import re
import subprocess

import pytest

from tests.api.conftest import LiveServer
from tests.conftest import REPO

pytestmark = pytest.mark.model
DOC = REPO / "docs" / "integrations.md"
DOC_URL = "http://127.0.0.1:8000"
BLOCKS = re.findall(r"^```(python|bash)\n(.*?)^```$", DOC.read_text("utf-8"), re.M | re.S)


def test_the_page_has_its_snippets() -> None:
    assert len([b for b in BLOCKS if b[0] == "python"]) >= 5
    assert len([b for b in BLOCKS if b[0] == "bash"]) >= 2


@pytest.mark.parametrize(("kind", "code"), BLOCKS, ids=[f"{k}-{i}" for i, (k, _) in enumerate(BLOCKS)])
def test_snippet_runs(kind: str, code: str, live_server: LiveServer,
                      monkeypatch: pytest.MonkeyPatch) -> None:
    code = code.replace(DOC_URL, live_server.url)
    if kind == "bash":
        done = subprocess.run(["bash", "-euo", "pipefail", "-c", code], capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stdout + done.stderr
        return
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # as the page says
    exec(compile(code, str(DOC), "exec"), {"__name__": "snippet"})
