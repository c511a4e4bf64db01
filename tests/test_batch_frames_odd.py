"""gradcalc.batch on frames a data scientist may hand it by mistake: a column name given
twice, a polars LazyFrame (each one BindingError that says what to do, whose fix gives
numpy's answer), and rows skipped from a frame whose index repeats labels (a warning:
DataFrame.assign cannot line such answers up)."""
import warnings

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

import gradcalc
from gradcalc.errors import BindingError


@pytest.mark.parametrize("make", [
    lambda: pd.DataFrame([[1.0, 2.0, 3.0]], columns=["x", "x", "y"]),
    lambda: pa.table([pa.array([1.0]), pa.array([2.0]), pa.array([3.0])],
                     names=["x", "x", "y"]),
], ids=["pandas", "pyarrow"])
def test_an_input_column_given_twice_is_named(make):
    with pytest.raises(BindingError) as caught:
        gradcalc.batch("x*y", make())
    assert caught.value.message == "the column x appears twice in the data"
    assert caught.value.hint == "rename one of them"
    # a column given twice that the expression does not use is no matter
    answer = gradcalc.batch("y*2", make())
    assert np.asarray(answer["value"]).tolist() == [6.0]


def test_a_polars_lazy_frame_is_asked_to_be_collected():
    pl = pytest.importorskip("polars")
    x, y = np.array([1.5, -2.0, 3.0]), np.array([0.5, 4.0, -1.0])
    lazy = pl.DataFrame({"x": x, "y": y}).lazy()
    with pytest.raises(BindingError) as caught:
        gradcalc.batch("x*y", lazy)
    assert "LazyFrame" in caught.value.message
    assert caught.value.hint == "collect it first: gradcalc.batch(EXPR, frame.collect())"
    answer = gradcalc.batch("x*y", lazy.collect())  # the fix the hint gives
    assert answer["value"].to_list() == (x * y).tolist()
    assert answer["grad_x"].to_list() == y.tolist()


def test_rows_skipped_from_a_frame_whose_index_repeats_labels_are_warned_about():
    x = np.array([1.0, -2.0, 3.0])
    frame = pd.DataFrame({"x": x}, index=["a", "a", "b"])
    with pytest.warns(UserWarning, match='use on_error="null"'):
        skipped = gradcalc.batch("log(x)", frame, on_error="skip")
    assert skipped["value"].tolist() == [np.log(1.0), np.log(3.0)]
    # what the warning is about: assign copies row 0's answer to the left-out row 1
    assert frame.assign(**skipped)["value"].tolist()[1] == np.log(1.0)
    lined_up = frame.assign(**gradcalc.batch("log(x)", frame, on_error="null"))
    with np.errstate(invalid="ignore"):
        assert np.array_equal(lined_up["value"].to_numpy(), np.log(x), equal_nan=True)


def test_rows_skipped_from_a_frame_of_unique_labels_line_up_without_a_warning():
    x = np.array([1.0, -2.0, 3.0])
    frame = pd.DataFrame({"x": x}, index=[10, 20, 30])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        skipped = gradcalc.batch("log(x)", frame, on_error="skip")
    with np.errstate(invalid="ignore"):
        assert np.array_equal(frame.assign(**skipped)["value"].to_numpy(), np.log(x),
                              equal_nan=True)
