"""Workspaces: tenants. Nothing crosses between them (SPEC M1)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from stageflow.domain.errors import ValidationFailed

SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")

DEFAULT_SETTINGS: dict[str, Any] = {
    "timezone": "UTC",
    "lifecycle_enabled": True,  # L1: shows or hides lifecycle (it keeps working either way)
    "lifecycle_sync_companies": False,  # a company's stage change also sets its contacts'
}


@dataclass(slots=True)
class Workspace:
    name: str
    slug: str
    created_at: datetime
    settings: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_SETTINGS))
    id: int | None = None


def slugify(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:63]
    return slug or "workspace"


def check_slug(slug: str) -> None:
    if not SLUG_PATTERN.match(slug):
        raise ValidationFailed(
            "a workspace slug is lowercase letters, digits and dashes", field="slug"
        )
