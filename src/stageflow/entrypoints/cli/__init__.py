"""The `stageflow` command line. Each module registers its commands on the root command
(`common.cli`); importing them here assembles it."""

from __future__ import annotations

from stageflow.bootstrap import configure_logging
from stageflow.entrypoints.cli import admin, automations, contacts, lifecycle, server
from stageflow.entrypoints.cli.common import cli

__all__ = ["admin", "automations", "cli", "contacts", "lifecycle", "main", "server"]


def main() -> None:
    configure_logging()
    cli()
