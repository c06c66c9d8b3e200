"""Action types. Importing this package registers the built-in ones."""

from stageflow.actions import activities, email, records, webhook
from stageflow.actions.registry import registry

__all__ = ["activities", "email", "records", "registry", "webhook"]
