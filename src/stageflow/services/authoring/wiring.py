"""The automation authoring's answers to the CRM's signals (``services/crm/signals.py``).

``connect()`` is called by the composition root (``bootstrap``) before any unit of work runs;
calling it again changes nothing.
"""

from __future__ import annotations

from stageflow.domain.pipelines import Pipeline
from stageflow.domain.records import ObjectType
from stageflow.services.authoring import lead_automation, references, substate_actions
from stageflow.services.authoring.automations import archive_compiled
from stageflow.services.crm import signals
from stageflow.services.unit_of_work import UnitOfWork


def connect() -> None:
    """Install lead automation in new workspaces; keep what automations rely on (anything an
    active automation names refuses to go); archive the automations compiled from rules whose
    stage, pipeline or opportunity type goes."""
    signals.workspace_created.connect(lead_automation.install)
    signals.default_pipeline_changing.connect(_check_default_lead_pipeline)
    signals.stage_deleting.connect(_check_lead_stage)
    signals.stage_deleting.connect(_archive_stage_rules)
    signals.pipeline_deleting.connect(_archive_pipeline_rules)
    signals.opportunity_type_renamed.connect(substate_actions.follow_rename)
    signals.opportunity_type_deleting.connect(substate_actions.delete_all)
    signals.reference_deleting.connect(references.refuse_if_used)


def _check_default_lead_pipeline(uow: UnitOfWork, workspace_id: int, kind: ObjectType) -> None:
    if kind is ObjectType.LEAD:
        lead_automation.check_default_change(uow, workspace_id)


def _check_lead_stage(uow: UnitOfWork, pipeline: Pipeline, stage_id: int) -> None:
    if pipeline.object_type is ObjectType.LEAD and pipeline.is_default:
        lead_automation.check_stage_deletable(uow, pipeline.workspace_id, stage_id)


def _archive_stage_rules(uow: UnitOfWork, pipeline: Pipeline, stage_id: int) -> None:
    """The stage's rules go with it; so do the automations compiled from them."""
    archive_compiled(uow, pipeline.workspace_id, uow.rules.automations_of_stages([stage_id]))


def _archive_pipeline_rules(uow: UnitOfWork, pipeline: Pipeline) -> None:
    stage_ids = [s.id for s in pipeline.stages if s.id is not None]
    archive_compiled(uow, pipeline.workspace_id, uow.rules.automations_of_stages(stage_ids))
