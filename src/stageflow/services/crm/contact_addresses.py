"""A contact's email and phone fields are the addresses inbound messages find it by."""

from __future__ import annotations

from stageflow.domain.lifecycle import ADDRESS_FIELDS, field_addresses
from stageflow.domain.records import Record
from stageflow.services.unit_of_work import UnitOfWork


def contact_saved(uow: UnitOfWork, contact: Record, changed: set[str] | None = None) -> None:
    """A contact's email and phone fields identify it to inbound messages."""
    assert contact.id is not None
    fields = list(ADDRESS_FIELDS)
    if changed is not None:
        fields = [f for f in fields if f"fields.{f}" in changed]
        for field in fields:
            uow.conversations.release_addresses(contact.id, ADDRESS_FIELDS[field][0])
    claims = [(contact.id, kind, a) for kind, a in field_addresses(contact.fields, fields)]
    uow.conversations.claim_addresses(contact.workspace_id, claims, uow.clock.now())
