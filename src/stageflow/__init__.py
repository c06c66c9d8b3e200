"""stageflow: a self-hostable CRM pipeline and lifecycle automation engine."""

from __future__ import annotations

__version__ = "0.1.0"

from stageflow.bootstrap import App, bootstrap  # noqa: E402
from stageflow.config import Settings  # noqa: E402
from stageflow.domain.clock import Clock, SystemClock, VirtualClock  # noqa: E402

__all__ = ["App", "Clock", "Settings", "SystemClock", "VirtualClock", "__version__", "bootstrap"]
