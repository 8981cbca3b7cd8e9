"""Shared-memory slots: layout, what one process writes another reads in place, clean unlinking."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamer.modelspec import InputSpec
from streamer.slots import ALIGN, SlotLayout, SlotSegment


def test_layout_aligns_each_tensor_and_sizes_the_slot() -> None:
    specs = {"b": InputSpec("x", 3, 5, dtype="uint8"), "a": InputSpec("y", 72, 96)}
    layout = SlotLayout.of(specs, slots=4)
    a, b = layout.places
    assert (a.model, a.offset, a.shape, a.dtype) == ("a", 0, (3, 72, 96), "<f4")
    assert b.offset == 3 * 72 * 96 * 4 and b.offset % ALIGN == 0
    assert (b.shape, b.dtype) == ((3, 3, 5), "|u1")
    assert layout.slot_bytes == b.offset + ALIGN  # 45 bytes round up to one line
    assert layout.total_bytes == 4 * layout.slot_bytes


def test_a_second_mapping_sees_the_writes_and_the_creator_unlinks() -> None:
    layout = SlotLayout.of({"m": InputSpec("x", 4, 4, layout="NHWC")}, slots=3)
    owner = SlotSegment(layout)
    reader = SlotSegment(layout, owner.name)
    try:
        owner.views(2)["m"][:] = 7.5
        np.testing.assert_array_equal(reader.views(2)["m"], np.full((4, 4, 3), 7.5, np.float32))
        assert not reader.views(1)["m"].any()  # slots do not overlap
    finally:
        reader.close()
    held = owner.views(0)["m"]
    held[:] = 1.0
    owner.close()  # the name goes at once; the mapping stays while a view is held
    assert not Path(f"/dev/shm/{owner.name.lstrip('/')}").exists()
    assert float(held.sum()) == 48.0  # still readable, not unmapped under the view
