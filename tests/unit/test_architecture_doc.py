"""docs/architecture.md names every module of each room of services/, and only those."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "src" / "stageflow" / "services"
DOC = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")


def _row(room: str) -> str:
    match = re.search(rf"^\| `{room}/` \|[^|]*\|(?P<modules>[^\n]*)\|$", DOC, re.MULTILINE)
    assert match, f"docs/architecture.md has no row for services/{room}/"
    return match.group("modules")


def _modules_on_disk(room: str) -> set[str]:
    found = set()
    for path in (SERVICES / room).iterdir():
        if path.suffix == ".py" and path.stem != "__init__":
            found.add(path.stem)
        elif path.is_dir() and (path / "__init__.py").exists():
            found.add(path.name)
    return found


@pytest.mark.parametrize("room", ["authoring", "engine", "channels", "crm"])
def test_each_room_lists_its_modules(room: str) -> None:
    named = {name.rstrip("/") for name in re.findall(r"`([a-z_]+/?)`", _row(room))}
    assert named == _modules_on_disk(room)


def test_shared_modules_are_the_ones_left_at_services() -> None:
    shared = re.search(r"^\| \(shared\) \|[^|]*\|(?P<modules>[^\n]*)\|$", DOC, re.MULTILINE)
    assert shared
    named = set(re.findall(r"`([a-z_]+)`", shared.group("modules")))
    on_disk = {p.stem for p in SERVICES.glob("*.py") if p.stem != "__init__"}
    assert named == on_disk
