"""The docs' curl examples run as written against the demo workspace a first `stageflow serve`
creates, after the README's "Try it with curl" block (which sets STAGEFLOW, AUTH, JSON and
json_id). Every request must answer 2xx."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.e2e.test_newcomer import ROOT, _readme_curl_block, server  # noqa: F401

# Each request fails the script on a 4xx or 5xx answer, saying which; the body is printed.
STRICT_CURL = r"""
curl() {
  local out code
  out=$(command curl -sS -w '\n%{http_code}' "$@")
  code=${out##*$'\n'}
  printf '%s\n' "${out%$'\n'*}"
  if [ "$code" -ge 400 ]; then echo "HTTP $code from curl $*" >&2; return 22; fi
}
"""


def _examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for block in re.findall(r"```bash\n(.*?)```", page.read_text(), re.S):
            # Moving the clock needs `serve --virtual-clock`, as the page says.
            if "curl" in block and "/admin/clock" not in block:
                found.append((page.name, block))
    return found


def test_the_docs_have_curl_examples() -> None:
    pages = {page for page, _ in _examples()}
    assert {"automations.md", "stage-automation.md", "opportunity-types.md"} <= pages


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_doc_examples_run_against_the_demo_workspace(server: tuple[str, Path]) -> None:  # noqa: F811
    url, workdir = server
    env = {**os.environ, "STAGEFLOW": url}
    script = "set -euo pipefail\n" + _readme_curl_block() + STRICT_CURL
    for page, block in _examples():
        script += f"echo '### {page}' >&2\n{block}\n"
    result = subprocess.run(
        ["bash", "-c", script], cwd=workdir, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr + result.stdout[-2000:]
    for page, _ in _examples():
        assert f"### {page}" in result.stderr
    assert '"name":"Hand over"' in result.stdout and '"name":"Remind"' in result.stdout
