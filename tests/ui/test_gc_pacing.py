"""Loading a trace runs with the collector paused, then freezes what it built; the pacer's stop hands
it back; an error while loading still re-enables the collector."""

from __future__ import annotations

import gc

import pytest

from relaychat.ui.gc_pacing import GcPacer, collections_paused


def test_a_load_runs_without_collections_and_its_objects_are_frozen_until_the_run_ends() -> None:
    assert gc.isenabled()
    gc.unfreeze()
    with collections_paused():
        assert not gc.isenabled()
        loaded = [{"event": i} for i in range(1000)]
    assert gc.isenabled() and gc.get_freeze_count() >= len(loaded)
    pacer = GcPacer()
    pacer.start()
    pacer.stop()
    assert gc.get_freeze_count() == 0


def test_an_error_while_loading_still_turns_the_collector_back_on() -> None:
    with pytest.raises(ValueError), collections_paused():
        raise ValueError("bad trace")
    assert gc.isenabled()
    gc.unfreeze()
