#!/usr/bin/env python3
"""Refresh the web app's vendored JavaScript from the npm registry (standard library only).

Each package is pinned below. The script downloads the package's tarball, checks it against
the sha512 ``integrity`` the registry publishes for that version, and copies the one built
file the web app serves plus the licence into
``src/stageflow/entrypoints/web/static/vendor/<package>/``; ``VERSIONS.txt`` there records
what was taken from where. Running or testing stageflow never needs this script (the files
are committed); run it only to move a pin:

    python3 scripts/vendor_static.py            # fetch and write
    python3 scripts/vendor_static.py --check    # verify the committed files match the pins
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REGISTRY = "https://registry.npmjs.org"
VENDOR = Path(__file__).resolve().parent.parent / "src/stageflow/entrypoints/web/static/vendor"


@dataclass(frozen=True)
class Pin:
    """One npm package at one version, and which of its files the web app serves."""

    package: str
    version: str
    files: dict[str, str]  # path inside the tarball -> file name under vendor/<package>/


PINS = [
    # htmx 2.0 is the stable line; 4.x is a rewrite with different attribute semantics.
    Pin("htmx.org", "2.0.11", {"package/dist/htmx.min.js": "htmx.min.js"}),
    Pin("sortablejs", "1.15.7", {"package/Sortable.min.js": "Sortable.min.js"}),
    Pin("chart.js", "4.6.1", {"package/dist/chart.umd.min.js": "chart.umd.min.js"}),
]
LICENCE_NAMES = ("package/LICENSE", "package/LICENSE.md", "package/LICENSE.txt")


def _get(url: str) -> bytes:
    request = urllib.request.Request(url, headers={"User-Agent": "stageflow-vendor-script"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body: bytes = response.read()
    return body


def _integrity(pin: Pin) -> str:
    """The registry's ``sha512-<base64>`` integrity string for the pinned version."""
    meta = json.loads(_get(f"{REGISTRY}/{pin.package}/{pin.version}"))
    integrity: str = meta["dist"]["integrity"]
    if not integrity.startswith("sha512-"):
        raise SystemExit(f"{pin.package}@{pin.version}: no sha512 integrity ({integrity})")
    return integrity


def _check(tarball: bytes, integrity: str, pin: Pin) -> None:
    digest = base64.b64encode(hashlib.sha512(tarball).digest()).decode()
    if "sha512-" + digest != integrity:
        raise SystemExit(f"{pin.package}@{pin.version}: tarball does not match its integrity")


def _extract(tarball: bytes, pin: Pin) -> dict[str, bytes]:
    """The pinned files and the licence, by the name they get under vendor/<package>/."""
    wanted: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(tarball), mode="r:gz") as archive:
        members = {m.name: m for m in archive.getmembers() if m.isfile()}
        for inner, name in pin.files.items():
            wanted[name] = _read(archive, members, inner, pin)
        licence = next((n for n in LICENCE_NAMES if n in members), None)
        if licence is None:
            raise SystemExit(f"{pin.package}@{pin.version}: no licence file in the tarball")
        wanted["LICENSE" + Path(licence).suffix] = _read(archive, members, licence, pin)
    return wanted


def _read(
    archive: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str, pin: Pin
) -> bytes:
    if name not in members:
        raise SystemExit(f"{pin.package}@{pin.version}: {name} is not in the tarball")
    handle = archive.extractfile(members[name])
    assert handle is not None
    return handle.read()


def _manifest_line(pin: Pin, integrity: str, files: dict[str, bytes]) -> str:
    sums = ", ".join(
        f"{name} sha256:{hashlib.sha256(body).hexdigest()[:16]}"
        for name, body in sorted(files.items())
    )
    return f"{pin.package} {pin.version} {integrity} ({sums})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="compare with the committed files, write nothing"
    )
    args = parser.parse_args()
    lines = [
        "# Vendored by scripts/vendor_static.py from the npm registry; do not edit by hand.",
        "# package version integrity-of-tarball (file sha256 prefixes)",
    ]
    stale: list[str] = []
    for pin in PINS:
        integrity = _integrity(pin)
        tarball = _get(f"{REGISTRY}/{pin.package}/-/{pin.package}-{pin.version}.tgz")
        _check(tarball, integrity, pin)
        files = _extract(tarball, pin)
        target = VENDOR / pin.package
        for name, body in files.items():
            path = target / name
            if args.check:
                if not path.exists() or path.read_bytes() != body:
                    stale.append(str(path))
            else:
                target.mkdir(parents=True, exist_ok=True)
                path.write_bytes(body)
        lines.append(_manifest_line(pin, integrity, files))
        print(f"{pin.package}@{pin.version}: {', '.join(sorted(files))}")
    manifest = "\n".join(lines) + "\n"
    versions = VENDOR / "VERSIONS.txt"
    if args.check:
        if not versions.exists() or versions.read_text() != manifest:
            stale.append(str(versions))
        if stale:
            print("out of date:\n  " + "\n  ".join(stale), file=sys.stderr)
            return 1
        print("vendored files match the pins")
        return 0
    versions.write_text(manifest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
