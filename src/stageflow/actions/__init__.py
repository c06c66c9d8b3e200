"""Action types. Importing this package registers the built-in ones."""

from stageflow.actions import activities, assign, email, notify, records, reports, sms, webhook
from stageflow.actions.registry import registry

__all__ = [
    "activities",
    "assign",
    "email",
    "notify",
    "records",
    "registry",
    "reports",
    "sms",
    "webhook",
]
