"""Browser tests: a real `stageflow serve` on loopback (SQLite, demo workspace) driven by
Playwright with Debian's chromium. Any console error or page error fails the test that
caused it; ``screenshot`` writes the pictures docs/ui.md shows."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

CHROMIUM = Path(os.environ.get("STAGEFLOW_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "ui"
CLI = "from stageflow.entrypoints.cli import main; main()"
AGENT_EMAIL = "sam.seller@demo.stageflow.local"
AGENT_PASSWORD = "agent-password-123"

try:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, sync_playwright
except ImportError:  # pragma: no cover - dev dependency
    sync_playwright = None  # type: ignore[assignment]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """One worker runs every browser test, so one server and one browser serve them all."""
    for item in items:
        if "tests/browser/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.xdist_group("browser"))


@dataclass
class Server:
    url: str
    data_dir: Path
    email: str
    password: str
    token: str
    env: dict[str, str]

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/api/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=10,
        )

    def cli(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", CLI, *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return done.stdout


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def _serve(tmp_path_factory: pytest.TempPathFactory, *args: str) -> Iterator[Server]:
    """A real ``stageflow serve`` (SQLite, demo workspace, the agent Sam Seller) on a free
    loopback port; ``args`` go to ``serve`` (e.g. ``--virtual-clock``)."""
    if sync_playwright is None:
        pytest.skip("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        pytest.skip(f"no chromium at {CHROMIUM} (apt-get install chromium; .ci/run does)")
    data_dir = tmp_path_factory.mktemp("stageflow-web")
    port = _free_port()
    env = {
        **os.environ,
        "STAGEFLOW_DATA_DIR": str(data_dir),
        "STAGEFLOW_HOST": "127.0.0.1",
        "STAGEFLOW_PORT": str(port),
    }
    env.pop("STAGEFLOW_DATABASE_URL", None)
    log = (data_dir / "server.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-c", CLI, "serve", *args],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((data_dir / "server.log").read_text())
            time.sleep(0.1)
        text = (data_dir / "demo-credentials.txt").read_text()
        found = dict(re.findall(r"^([a-z ]+):\s+(\S+)$", text, flags=re.M))
        server = Server(
            url=url,
            data_dir=data_dir,
            email=found["login"],
            password=found["password"],
            token=found["api token"],
            env=env,
        )
        server.cli(
            "user", "create", "-w", "demo", "--email", AGENT_EMAIL, "--name", "Sam Seller",
            "--role", "agent", "--password", AGENT_PASSWORD,
        )  # fmt: skip
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The server most browser tests share, on real time, with a few deals and leads more."""
    with _serve(tmp_path_factory) as server:
        _seed(server)
        yield server


@pytest.fixture(scope="session")
def rehearsal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A second server started with ``--virtual-clock``, for tests that advance time
    (``POST /api/v1/admin/clock/advance`` or the clock bar). Tests that use it must not
    expect real time on it, and share it: advance only forward."""
    with _serve(tmp_path_factory, "--virtual-clock") as server:
        yield server


def _seed(server: Server) -> None:
    """A few more deals and leads with open activities, so the pictures look like a
    working pipeline."""
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    with server.api() as api:
        users = {u["name"]: u["id"] for u in api.get("/users").json()}
        deals = stage_ids(server, "deal")
        leads = stage_ids(server, "lead")
        seeds = [
            ("deals", "Bianchi solar roof", deals["New"], "Demo Owner", 18000,
             ("task", "Send the quote", 2)),
            ("deals", "Lombardi battery storage", deals["Proposal"], "Demo Owner", 11300,
             ("meeting", "Site visit", 1)),
            ("deals", "Verdi heat pump", deals["Negotiation"], "Alex Agent", 7200,
             ("call", "Follow-up call", -1)),
            ("leads", "Greco villa enquiry", leads["New"], "Alex Agent", None,
             ("call", "First call", 0)),
            ("leads", "Costa farm panels", leads["New"], "Demo Owner", None, None),
        ]  # fmt: skip
        for plural, name, stage_id, owner, amount, activity in seeds:
            values: dict[str, Any] = {"name": name, "stage_id": stage_id, "owner_id": users[owner]}
            if amount is not None:
                values["fields"] = {"amount": amount, "currency": "EUR"}
            created = api.post(f"/{plural}", json=values)
            assert created.status_code == 201, created.text
            if activity is not None:
                kind, subject, days = activity
                due = (now + timedelta(days=days, hours=1)).isoformat()
                logged = api.post(
                    "/activities",
                    json={
                        "record_id": created.json()["id"],
                        "type": kind,
                        "subject": subject,
                        "due_at": due,
                        "status": "open",
                    },
                )
                assert logged.status_code == 201, logged.text


@pytest.fixture(scope="session")
def browser(server: Server) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class ConsoleWatch:
    """Console errors and page errors seen during a test; ``allow`` expects some."""

    problems: list[str] = field(default_factory=list)
    allowed: list[re.Pattern[str]] = field(default_factory=list)

    def allow(self, pattern: str) -> None:
        self.allowed.append(re.compile(pattern))

    def unexpected(self) -> list[str]:
        return [p for p in self.problems if not any(a.search(p) for a in self.allowed)]


@pytest.fixture
def console() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def context(browser: Browser, server: Server) -> Iterator[BrowserContext]:
    context = browser.new_context(
        base_url=server.url, viewport={"width": 1360, "height": 860}, reduced_motion="reduce"
    )
    context.set_default_timeout(10_000)
    try:
        yield context
    finally:
        context.close()


def _watch(page: Page, console: ConsoleWatch) -> None:
    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            console.problems.append(f"console error: {message.text}")

    page.on("console", on_console)
    page.on("pageerror", lambda exc: console.problems.append(f"page error: {exc}"))


@pytest.fixture
def page(context: BrowserContext, console: ConsoleWatch) -> Iterator[Page]:
    page = context.new_page()
    _watch(page, console)
    yield page
    unexpected = console.unexpected()
    assert not unexpected, "the page logged errors:\n" + "\n".join(unexpected)


@pytest.fixture
def rehearsal_page(
    browser: Browser, rehearsal_server: Server, console: ConsoleWatch
) -> Iterator[Page]:
    """A page on the virtual-clock server, signed in as its owner; console errors fail the
    test as on ``page``."""
    context = browser.new_context(
        base_url=rehearsal_server.url,
        viewport={"width": 1360, "height": 860},
        reduced_motion="reduce",
    )
    context.set_default_timeout(10_000)
    page = context.new_page()
    _watch(page, console)
    try:
        sign_in(page, rehearsal_server.email, rehearsal_server.password)
        yield page
    finally:
        context.close()
    unexpected = console.unexpected()
    assert not unexpected, "the page logged errors:\n" + "\n".join(unexpected)


def sign_in(page: Page, email: str, password: str) -> None:
    page.goto("/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/boards/"))


@pytest.fixture
def owner_page(page: Page, server: Server) -> Page:
    sign_in(page, server.email, server.password)
    return page


def screenshot(page: Page, name: str) -> Path:
    """Save what the page shows as docs/ui/<name>.png (docs/ui.md shows these)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def check_accessibility(page: Page) -> None:
    """axe-core (shipped inside axe-playwright-python, no network): no serious or critical
    violations."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page)
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in ("serious", "critical")
    ]
    assert not bad, "accessibility violations:\n" + "\n".join(bad)


def stage_ids(server: Server, object_type: str) -> dict[str, int]:
    """Stage name -> id in the default pipeline of an object type."""
    with server.api() as api:
        pipelines = api.get("/pipelines", params={"object_type": object_type}).json()
    items: list[Any] = pipelines["items"] if isinstance(pipelines, dict) else pipelines
    default = next(p for p in items if p["is_default"] and p["object_type"] == object_type)
    return {s["name"]: s["id"] for s in default["stages"]}
