"""``collector.Collector``: what lives on is frozen out of the collector's passes, and the periodic
full pass still frees reference cycles among frozen objects."""

from __future__ import annotations

import gc
import time
import weakref
from collections.abc import Iterator

import pytest

from frontdesk.collector import GC_THRESHOLDS, Collector

GUARD_SECS = 30.0  # against a hang only


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _eventually(condition: object, what: str) -> None:
    deadline = time.monotonic() + GUARD_SECS
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


@pytest.fixture
def restore_gc() -> Iterator[None]:
    """No automatic pass meanwhile (one could free the test's cycle before it is frozen); the
    process's collector as it was afterwards."""
    threshold, enabled = gc.get_threshold(), gc.isenabled()
    gc.disable()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)
    if enabled:
        gc.enable()


def _frozen(ref: weakref.ref[_Node]) -> bool:
    """Whether the object is in the collector's permanent generation: tracked, in no other one."""
    target = ref()
    assert target is not None
    return gc.is_tracked(target) and not any(o is target for g in range(3) for o in gc.get_objects(g))


def _cycle() -> weakref.ref[_Node]:
    a, b = _Node(), _Node()
    a.other, b.other = b, a
    return weakref.ref(a)


@pytest.mark.usefixtures("restore_gc")
def test_objects_that_live_on_are_frozen_and_a_full_pass_frees_their_cycles() -> None:
    clock = [0.0]
    collector = Collector(freeze_secs=0.01, full_pass_secs=100.0, clock=lambda: clock[0])
    collector.start()
    try:
        assert gc.get_threshold() == GC_THRESHOLDS
        kept = [_Node() for _ in range(100)]
        _eventually(lambda: all(_frozen(weakref.ref(n)) for n in kept), "the new objects frozen")

        garbage = _cycle()
        _eventually(lambda: _frozen(garbage), "the cycle frozen")
        gc.collect()  # the collector's own passes do not see frozen objects ...
        assert garbage() is not None
        clock[0] = 100.0  # ... the full pass does, when it is due
        _eventually(lambda: collector.full_passes == 1, "the full pass")
        assert garbage() is None
        assert gc.get_freeze_count() > 0  # frozen again after it
    finally:
        collector.stop()
    assert all(isinstance(n, _Node) for n in kept)  # reference counting keeps what is referenced


@pytest.mark.usefixtures("restore_gc")
def test_an_unreferenced_frozen_object_is_freed_at_once() -> None:
    collector = Collector(freeze_secs=0.01, full_pass_secs=3600.0)
    collector.start()
    try:
        node = _Node()
        gone = weakref.ref(node)
        frozen = gc.get_freeze_count()
        _eventually(lambda: gc.get_freeze_count() > frozen, "a freeze")
        del node
        assert gone() is None  # freed by its reference count, no pass needed
    finally:
        collector.stop()
