"""Start-up and readiness of a real server: ``/health`` answers while the model loads,
``/ready`` says 503 with the reasons until every collection can be served, an index file
changed under a running server stops being served (the server lives on), and a write on
a full disk answers 507."""
from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import SEMSEARCH, copy_indexed, server_env, start_server, stop_server
from tests.backends import free_port
from tests.conftest import REPO

pytestmark = [pytest.mark.model, pytest.mark.slow]


def build_file(data_dir: Path) -> Path:
    (path,) = (data_dir / "builds").glob("*.faiss")
    return path


def test_health_answers_while_the_model_loads(tmp_path: Path, pristine_sample: Path) -> None:
    data_dir = copy_indexed(pristine_sample, tmp_path)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([SEMSEARCH, "serve", "--port", str(port)], env=server_env(data_dir),
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seen: list[tuple[int, str, int]] = []  # (/health status, engine state, /ready status)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                # /ready first: once it says 200, a later /health must say "ready"
                ready = httpx.get(url + "/ready", timeout=5)
                health = httpx.get(url + "/health", timeout=5)
            except httpx.HTTPError:
                time.sleep(0.05)
                continue
            seen.append((health.status_code, health.json()["engine"], ready.status_code))
            if ready.status_code == 200:
                break
            body = ready.json()["error"]
            assert body["code"] == "not_ready" and "loading" in body["detail"]["reasons"]["start-up"]
            search = httpx.post(url + "/v1/search", json={"query": "退款"}).status_code
            if search != 503:  # it finished loading in between: then it must say so
                assert search == 200 and httpx.get(url + "/health").json()["engine"] == "ready"
            time.sleep(0.05)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert seen[0] == (200, "loading", 503), seen[:3]  # it listened before the model was in
    assert seen[-1] == (200, "ready", 200)


def test_ready_names_an_unservable_collection_without_server_paths(tmp_path: Path,
                                                                   pristine_sample: Path) -> None:
    data_dir = copy_indexed(pristine_sample, tmp_path)
    path = build_file(data_dir)
    path.chmod(0o644)
    path.write_bytes(b"broken")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([SEMSEARCH, "serve", "--port", str(port)], env=server_env(data_dir),
                               cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/health", timeout=5).json()["engine"] == "ready":
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        ready = httpx.get(url + "/ready")
        assert ready.status_code == 503
        reason = ready.json()["error"]["detail"]["reasons"]["default"]
        assert "builds/" in reason and "corrupt" in reason and str(data_dir) not in reason
        search = httpx.post(url + "/v1/search", json={"query": "退款"})
        assert search.status_code == 503 and str(data_dir) not in search.text
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.mark.parametrize("damage", ["truncate", "overwrite"])
def test_an_index_file_changed_under_a_running_server(tmp_path: Path, damage: str,
                                                     pristine_sample: Path) -> None:
    data_dir = copy_indexed(pristine_sample, tmp_path)
    server = start_server(data_dir, server_env(data_dir))
    try:
        path = build_file(data_dir)
        path.chmod(0o644)
        if damage == "truncate":
            os.truncate(path, 0)
        else:  # same size, garbage that decodes to huge scores
            path.write_bytes(b"\x7f" * path.stat().st_size)
        deadline = time.monotonic() + 10
        while httpx.get(server.url + "/ready").status_code == 200 and time.monotonic() < deadline:
            r = httpx.post(server.url + "/v1/search", json={"query": "退款多久到账"})
            assert r.status_code in (200, 503)  # 503 once the refresh has noticed
            if r.status_code == 200:  # until then, the verified copy: never garbage
                assert all(-1.01 <= h["score"] <= 1.01 for h in r.json()["hits"])
            time.sleep(0.1)
        ready = httpx.get(server.url + "/ready")
        assert ready.status_code == 503 and "after it was loaded" in ready.text
        search = httpx.post(server.url + "/v1/search", json={"query": "退款多久到账"})
        assert search.status_code == 503 and search.json()["error"]["code"] == "not_ready"
        assert server.process.poll() is None  # alive: no SIGBUS
    finally:
        stop_server(server)


@pytest.fixture
def small_disk(tmp_path: Path):
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (tests/indexer/test_data_safety.py injects the fault)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_write_on_a_full_disk_answers_507(small_disk: Path, tmp_path: Path,
                                            pristine_sample: Path) -> None:
    data_dir = copy_indexed(pristine_sample, small_disk / "data")
    server = start_server(data_dir, server_env(data_dir), log_path=tmp_path / "server.log")
    try:
        before = httpx.get(server.url + "/v1/collections").json()
        stat = os.statvfs(small_disk)
        with open(small_disk / "filler", "wb") as handle:
            handle.write(b"\0" * (stat.f_bavail * stat.f_frsize))
        entry = {"question": "满盘时能写入吗", "similar_questions": [f"第{i}种说法" for i in range(50)]}
        r = httpx.put(server.url + "/v1/collections/default/documents/full-1", json=entry, timeout=60)
        assert r.status_code == 507, r.text
        error = r.json()["error"]
        assert error["code"] == "storage_full" and "no space left on device" in error["message"]
        assert str(data_dir) not in error["message"]
        (small_disk / "filler").unlink()
        assert httpx.get(server.url + "/v1/collections").json() == before  # nothing half-written
        assert httpx.get(server.url + "/v1/collections/default/documents/full-1").status_code == 404
        assert httpx.put(server.url + "/v1/collections/default/documents/full-1", json=entry,
                         timeout=60).status_code == 200  # and with room again it works
    finally:
        stop_server(server)


@pytest.mark.parametrize(("workers", "cores", "threads"),
                         [(1, 2, 1), (1, 16, 15), (4, 16, 3), (2, 2, 1), (3, 2, 1)])
def test_each_worker_leaves_a_core_of_its_share_to_its_request_path(workers: int, cores: int,
                                                                    threads: int) -> None:
    from api.cli.serve_cmd import serving_threads

    assert serving_threads(workers, cores) == threads
