"""Artifact previews on the task page: readable, and never more than a few KB."""

from __future__ import annotations

import pytest

from rayflow.ui._taskview import PREVIEW_CHARS, preview, shape_of, type_name


def test_numbers_strings_and_small_containers_read_as_their_repr():
    assert preview(3.5) == "3.5"
    assert preview("hi") == "'hi'"
    assert preview([1, 2, 3]) == "[1, 2, 3]"
    assert preview({"a": 1}) == "{'a': 1}"


def test_big_values_are_cut_to_a_few_kb_without_building_them_whole():
    assert len(preview(list(range(10**6)))) < PREVIEW_CHARS + 100
    assert len(preview("x" * 10**6)) <= PREVIEW_CHARS + 100
    assert shape_of(list(range(10))) == "10 items"


def test_arrays_show_their_shape_and_dtype():
    np = pytest.importorskip("numpy")
    value = np.zeros((300, 4), dtype="float32")
    assert shape_of(value) == "shape 300 × 4 float32"
    assert type_name(value) == "numpy.ndarray"
    assert len(preview(value)) < PREVIEW_CHARS + 100


def test_frames_show_their_shape():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"a": range(1000), "b": range(1000)})
    assert shape_of(frame) == "shape 1000 × 2"
    assert "1000 rows" in preview(frame)


def test_a_failing_repr_is_reported_not_raised():
    class Bad:
        def __repr__(self):
            raise ValueError("nope")

    assert preview(Bad()) == "<repr failed: ValueError: nope>"
