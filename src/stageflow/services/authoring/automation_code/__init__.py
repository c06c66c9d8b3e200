"""Automation-as-code (issue 6, item 10): a workspace's workflows, stage rules and lead
automation settings as one YAML document, exported and imported exactly.

Export writes each definition without its default values, so files stay short; import reads
them through the same models, so ``export → import → export`` gives the same text. Import is
all or nothing: every entry is checked before anything is written, and every problem is told
with the file, the line and the field.
"""

from __future__ import annotations

from stageflow.services.authoring.automation_code.export import export
from stageflow.services.authoring.automation_code.importer import apply, load
from stageflow.services.authoring.automation_code.problems import CodeInvalid, Outcome, Problem

__all__ = ["CodeInvalid", "Outcome", "Problem", "apply", "export", "load"]
