"""What actions may do to the world: ports the worker implements (DESIGN "Layers")."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from stageflow.automation.calendar import WorkCalendar
from stageflow.domain.text import a_or_an


class CrmPort(Protocol):
    """CRM changes, made in the run's transaction by the automation's actor."""

    def create_record(
        self,
        object_type: str,
        *,
        name: str | None,
        fields: dict[str, Any],
        owner_id: int | None,
        pipeline_id: int | None,
        stage_id: int | None,
        associations: dict[str, list[int]],
    ) -> int: ...

    def update_record(
        self,
        record_id: int,
        *,
        fields: dict[str, Any] | None = None,
        owner_id: int | None = None,
        name: str | None = None,
    ) -> None: ...

    def move_record(
        self, record_id: int, stage_id: int, *, forward_only: bool = False
    ) -> str | None:
        """Move the record; returns why it was not moved (a lead locked by hand, SPEC H5, or
        with ``forward_only`` a stage that is not ahead), or None."""

    def copy_record(
        self,
        record_id: int,
        *,
        name: str,
        pipeline_id: int | None,
        stage_id: int | None,
        owner_id: int | None,
        associations: bool,
    ) -> int:
        """A new record of the same type with all of ``record_id``'s field data."""

    def log_activity(
        self,
        record_id: int,
        *,
        type: str,
        subject: str,
        description: str,
        due_at: datetime | None,
        responsible_id: int | None,
        complete_on_stage_exit: bool = False,
    ) -> int: ...

    def record(self, record_id: int) -> Mapping[str, Any]:
        """The record as a template/condition sees it (``id``, ``name``, fields…)."""

    def notify(self, user_ids: list[int], *, title: str, body: str, record_id: int | None) -> None:
        """In-app notifications for users, in the run's transaction."""

    def open_load(self, object_type: str, user_ids: list[int], field: str | None) -> dict[int, int]:
        """Open records of a type each user holds (as owner, or in a user field)."""

    def next_turn(self, key: str) -> int:
        """One more turn of a named rotation, counted in the run's transaction (1, 2, …)."""

    def report_template(self, name: str) -> Mapping[str, Any] | None:
        """A named report template (``title``, ``html``), or None."""

    def keep_file(
        self, record_id: int, *, filename: str, content_type: str, data: bytes, source: str
    ) -> int:
        """Keep a file on a record (in the run's transaction); returns its id."""

    def add_signature_request(
        self, record_id: int, *, file_id: int, signers: list[dict[str, Any]]
    ) -> int:
        """Record that a document of the record goes out for signature; returns its id."""

    def set_substate(self, record_id: int, substate: str, *, open_: bool) -> bool:
        """Open or close a sub-state of an opportunity; False if it already was."""

    def user(self, user_id: int) -> Mapping[str, Any] | None:
        """A user of the workspace (``id``, ``email``, ``name``), or None."""

    def email_template(self, name: str) -> Mapping[str, Any] | None:
        """A named email template (``subject``, ``html``, ``text``), or None."""


class OutboxPort(Protocol):
    """External effects, queued in the run's transaction and delivered after it commits."""

    def queue(
        self, kind: str, payload: dict[str, Any], *, max_attempts: int, part: str = ""
    ) -> int:
        """Queue one delivery keyed by the step's idempotency key (plus ``part``, for a step
        that sends several, e.g. one SMS per number); returns its id."""


class NoOutbox:
    """For contexts that cannot reach the outside world (e.g. a dry run)."""

    def queue(
        self, kind: str, payload: dict[str, Any], *, max_attempts: int, part: str = ""
    ) -> int:
        raise ValueError(f"{a_or_an(kind)} cannot be sent from here")


@dataclass
class ActionContext:
    """Everything one action execution sees. The template context is built on first use.

    An action's effects must go through ``crm`` (or, for the outside world, ``outbox``): the
    worker may run an action again after rolling its transaction back, so anything it does
    outside that transaction could happen twice.
    """

    workspace_id: int
    record_id: int | None
    object_type: str | None
    now: datetime
    idempotency_key: str
    variables: dict[str, Any]
    calendar: WorkCalendar
    crm: CrmPort
    template_context_factory: Callable[[], Mapping[str, Any]]
    attempt: int = 1
    outbox: OutboxPort = field(default_factory=NoOutbox)
    scope: str = ""  # the automation step this runs for, e.g. "automation-7/assign"
    _template_context: Mapping[str, Any] | None = field(default=None, repr=False)

    @property
    def template_context(self) -> Mapping[str, Any]:
        if self._template_context is None:
            self._template_context = self.template_context_factory()
        return self._template_context

    def render(self, source: str) -> str:
        from stageflow.automation.templates import render

        return render(source, self.template_context)

    def render_html(self, source: str) -> str:
        """Render an HTML template, escaping the values it inserts."""
        from stageflow.automation.templates import render_html

        return render_html(source, self.template_context)
