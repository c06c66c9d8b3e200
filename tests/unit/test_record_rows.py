"""Records are read from rows by position: the order must follow the table's."""

from stageflow.adapters.db import tables as t
from stageflow.adapters.db.repositories.records import RECORD_COLUMNS


def test_record_columns_follow_the_table() -> None:
    assert tuple(c.name for c in t.records.columns) == RECORD_COLUMNS
