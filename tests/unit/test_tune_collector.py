"""The collector tuning the server and worker processes apply once started."""

import gc

from stageflow.bootstrap import YOUNG_OBJECTS, tune_collector


def test_the_youngest_generation_grows_and_startup_objects_are_frozen() -> None:
    before = gc.get_threshold()
    try:
        tune_collector()
        assert gc.get_threshold() == (YOUNG_OBJECTS, before[1], before[2])
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
