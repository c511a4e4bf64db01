"""gradcalc.batch on frames a data scientist may hand it by mistake: a column name given
twice, a polars LazyFrame. Each is one BindingError that says what to do, and the fix it
suggests gives numpy's answer."""
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
