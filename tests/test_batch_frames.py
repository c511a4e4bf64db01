"""gradcalc.batch on columnar data (pandas, polars, Arrow: the same kind back, each value
the dict-of-numpy route's and gradcalc.evaluate's at that row), and the README's Dask
recipe on two worker processes, row for row against `gradcalc batch`."""
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import gradcalc
from gradcalc.cli import cli
from click.testing import CliRunner

EXPR = "(x+y)*max(z,w) + sigmoid(x*w)"
NAMES = ["x", "y", "z", "w"]
ANSWERS = ["value", "grad_x", "grad_y", "grad_z", "grad_w"]


def points(n, seed=3):
    rng = np.random.default_rng(seed)
    table = {name: rng.normal(size=n) for name in NAMES}
    table["w"][::5] = table["z"][::5]  # max's ties
    table["id"] = [f"p{i}" for i in range(n)]
    return table


def as_numbers(frame):
    """The answers of any kind as a dict of float arrays (NaN for null)."""
    if isinstance(frame, pd.DataFrame):
        return {name: frame[name].to_numpy() for name in frame.columns}
    if isinstance(frame, pl.DataFrame):
        return {name: frame[name].fill_null(np.nan).to_numpy() for name in frame.columns}
    return {name: frame[name].to_numpy(zero_copy_only=False) for name in frame.column_names}


KINDS = {"pandas": pd.DataFrame, "polars": pl.DataFrame, "arrow": pa.table}


@pytest.mark.parametrize("kind", KINDS)
def test_a_table_in_the_same_kind_out_equal_to_the_arrays_and_to_eval(kind):
    table = points(50)
    frame = KINDS[kind](table)
    result = gradcalc.batch(EXPR, frame)
    assert type(result) is type(frame)
    got = as_numbers(result)
    assert list(got) == ANSWERS and all(len(v) == 50 for v in got.values())
    by_arrays = gradcalc.batch(EXPR, {name: table[name] for name in NAMES})
    for name in ANSWERS:
        assert np.array_equal(got[name], by_arrays[name]), name
    for row in range(0, 50, 7):  # the scalar oracle, and central differences
        point = {name: table[name][row] for name in NAMES}
        scalar = gradcalc.evaluate(EXPR, **point)
        assert got["value"][row] == pytest.approx(scalar.value, rel=1e-12)
        for name in NAMES:
            assert got[f"grad_{name}"][row] == pytest.approx(scalar.gradients[name], rel=1e-12)
            if row % 5:  # off max's tie, where the function is smooth
                h = 1e-6
                up = gradcalc.evaluate(EXPR, **{**point, name: point[name] + h}).value
                down = gradcalc.evaluate(EXPR, **{**point, name: point[name] - h}).value
                assert got[f"grad_{name}"][row] == pytest.approx((up - down) / (2 * h),
                                                                 rel=1e-6, abs=1e-8)


@pytest.mark.parametrize("kind", KINDS)
def test_missing_values_are_bad_rows_and_null_answers(kind):
    table = {"x": [4.0, None, 9.0, -1.0], "label": ["a", "b", "c", "d"]}
    frame = KINDS[kind](table)
    with pytest.raises(gradcalc.GradcalcError, match="row 1, column x: the value is missing"):
        gradcalc.batch("sqrt(x)", frame)
    nulled = as_numbers(gradcalc.batch("sqrt(x)", frame, on_error="null"))
    assert nulled["value"][[0, 2]].tolist() == [2.0, 3.0]
    assert np.isnan(nulled["value"][[1, 3]]).all()
    skipped = gradcalc.batch("sqrt(x)", frame, on_error="skip")
    assert as_numbers(skipped)["value"].tolist() == [2.0, 3.0]
    if kind == "pandas":  # the index says which rows are left
        assert skipped.index.tolist() == [0, 2]
        assert skipped.attrs["gradcalc"]["bad_rows"].tolist() == [1, 3]
    if kind != "pandas":  # Arrow and polars answer a missing row with null
        answers = gradcalc.batch("sqrt(x)", frame, on_error="null")
        column = answers["value"]
        assert column.null_count == 2 if kind == "arrow" else column.null_count() == 2


@pytest.mark.parametrize("kind", KINDS)
def test_integer_columns_and_text_columns(kind):
    frame = KINDS[kind]({"n": [1, 2, 3], "s": ["a", "b", "c"]})
    assert as_numbers(gradcalc.batch("n^2", frame))["grad_n"].tolist() == [2.0, 4.0, 6.0]
    with pytest.raises(gradcalc.BindingError, match="the column s is not numbers"):
        gradcalc.batch("s*2", frame)
    # only the columns the expression uses are converted
    assert as_numbers(gradcalc.batch("2*b", frame, b=3))["value"].tolist() == [6.0] * 3


def test_a_pandas_frame_keeps_its_index():
    frame = pd.DataFrame({"x": [1.0, 2.0]}, index=["a", "b"])
    result = gradcalc.batch("x^3", frame)
    assert result.index.tolist() == ["a", "b"] and result["grad_x"].tolist() == [3.0, 12.0]
    assert frame.assign(**result).columns.tolist() == ["x", "value", "grad_x"]


# -- the README's Dask recipe ---------------------------------------------------------

README = Path(__file__).resolve().parents[1] / "README.md"


def dask_recipe() -> str:
    text = README.read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    return next(block for block in blocks if "dask.dataframe" in block)


def test_the_readme_dask_recipe_on_two_worker_processes(tmp_path, monkeypatch):
    pytest.importorskip("dask.distributed")
    table = pd.DataFrame(points(4000, seed=11))
    table.loc[17, "x"] = np.nan  # a bad row: null in both routes
    (tmp_path / "points").mkdir()
    for part in range(4):  # a partitioned Parquet file
        table.iloc[part * 1000:(part + 1) * 1000].to_parquet(
            tmp_path / "points" / f"part.{part}.parquet", index=False)
    table.to_parquet(tmp_path / "all.parquet", index=False)
    monkeypatch.chdir(tmp_path)
    recipe = dask_recipe()
    assert "LocalCluster(n_workers=2)" in recipe
    namespace = {"__name__": "__main__"}  # as `python recipe.py` runs it
    try:
        exec(compile(recipe, "README.md (Dask)", "exec"), namespace)  # noqa: S102 (our README)
    finally:
        if "client" in namespace:
            cluster = namespace["client"].cluster
            assert len(cluster.workers) == 2
            namespace["client"].close()
            cluster.close()
    ran = CliRunner().invoke(cli, ["batch", EXPR, "-i", "all.parquet", "-o", "cli.parquet",
                                   "--on-error", "null"])
    assert ran.exit_code == 0, ran.stderr
    by_dask = pd.read_parquet(tmp_path / "grads").sort_values("id").reset_index(drop=True)
    by_cli = pq.read_table(tmp_path / "cli.parquet").to_pandas() \
        .sort_values("id").reset_index(drop=True)
    assert len(by_dask) == len(by_cli) == 4000
    assert by_dask["id"].tolist() == by_cli["id"].tolist()
    for name in NAMES + ANSWERS:
        assert np.array_equal(by_dask[name].to_numpy(), by_cli[name].to_numpy(float),
                              equal_nan=True), name
    assert math.isnan(by_dask.loc[by_dask["id"] == "p17", "value"].item())
