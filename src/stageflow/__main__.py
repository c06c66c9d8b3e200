"""`python -m stageflow` is the `stageflow` command."""

from stageflow.entrypoints.cli import main

main()
