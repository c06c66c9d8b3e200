"""stageflow: a self-hostable CRM pipeline and lifecycle automation engine."""

from __future__ import annotations

__version__ = "0.1.0"

from stageflow.bootstrap import App, bootstrap
from stageflow.config import Settings
from stageflow.domain.clock import Clock, SystemClock, VirtualClock

__all__ = ["App", "Clock", "Settings", "SystemClock", "VirtualClock", "__version__", "bootstrap"]
