"""A newcomer's first minutes: `stageflow serve` on an empty directory, then the README's curl
sequence, exactly as written."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
STAGEFLOW = str(Path(sys.executable).parent / "stageflow")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(workdir: Path) -> Iterator[str]:
    """A real `stageflow serve` in ``workdir``; yields its URL, stops it afterwards."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEFLOW_")}
    log_path = workdir / f"serve-{port}.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [STAGEFLOW, "serve", "--port", str(port)],
            cwd=workdir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while not _healthy(url):
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"stageflow serve did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield url
        finally:
            process.terminate()
            process.wait(timeout=10)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _logs(workdir: Path) -> str:
    return "".join(p.read_text() for p in sorted(workdir.glob("serve-*.log")))


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    with running_server(tmp_path) as url:
        yield url, tmp_path


def _readme_curl_block() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"<!-- newcomer-curl -->\s*```bash\n(.*?)```", readme, re.S)
    assert match, "README.md lost its newcomer curl block"
    return match.group(1)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_readme_curl_sequence_works_as_written(server: tuple[str, Path]) -> None:
    url, workdir = server
    first_start = _logs(workdir)
    assert "demo workspace created" in first_start and "api token: sf_" in first_start

    script = "set -euo pipefail\n" + _readme_curl_block()
    env = {**os.environ, "STAGEFLOW": url}
    result = subprocess.run(
        ["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    moved, timeline = json.loads(lines[0]), json.loads(lines[-1])
    assert moved["object"] == "deal" and moved["version"] == 2
    assert [e["type"] for e in timeline["items"]] == [
        "StageChanged",
        "AssociationAdded",
        "RecordCreated",
    ]


def test_second_start_keeps_the_workspace(tmp_path: Path) -> None:
    with running_server(tmp_path):
        pass
    credentials = tmp_path / ".stageflow" / "demo-credentials.txt"
    assert oct(credentials.stat().st_mode)[-3:] == "600"
    token = credentials.read_text().split("api token: ")[1].strip()
    with running_server(tmp_path) as url:
        response = httpx.get(url + "/api/v1/deals", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and len(response.json()["items"]) == 2
    assert _logs(tmp_path).count("demo workspace created") == 1
