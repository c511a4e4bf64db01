"""gradcalc.batch: columns in, the same kind of columns out, with no text in between.

A dict of numpy arrays (or lists), a pandas DataFrame, a polars DataFrame or a pyarrow
Table: each column the expression uses goes to numpy as float64, and the answers come
back as the input's kind. A library is recognised by the module of its type, so none of
them is imported unless the data is already one of its objects.
"""
from __future__ import annotations

import sys

from .api import refuse_misspelled_options
from .errors import BindingError

KINDS = ("pandas", "polars", "pyarrow")


def batch(source: str, points, /, *, wrt=None, ties: str = "split", on_error: str = "stop",
          chunk_size: int | None = None, **constants):
    """The value and gradients of `source` at many points at once, vectorized with numpy.

    `points` maps each input's name to a column of n rows: a dict of 1-D numpy arrays or
    lists, a pandas DataFrame, a polars DataFrame or a pyarrow Table (a missing value,
    null or NaN, is a bad row). `constants` are bindings shared by all points (`b=0.5`).

    Returns the same kind of columns: "value" and "grad_<name>" for each input (or `wrt`),
    float64, n rows (fewer with on_error="skip"). A dict gives a
    gradcalc.batching.BatchResult (a dict of arrays, with `.rows`, `.bad_rows`,
    `.problems` and `.warnings`); a pandas DataFrame keeps the input's index and holds
    the same in `.attrs["gradcalc"]`; a polars DataFrame or an Arrow table has nulls
    where a row could not be computed (on_error="null").

    A row outside a function's domain raises DomainError naming its position (from 0),
    unless on_error is "skip" (the row is left out) or "null" (no numbers for it); a
    column that is not numbers, a column given twice, columns of different lengths or a
    polars LazyFrame raise BindingError. Rows skipped from a pandas frame whose index
    repeats labels are a UserWarning: by label, they cannot be lined up with the answers.
    """
    from .batching import run_arrays  # numpy only when it is used

    refuse_misspelled_options("batch", source, constants,
                              ("wrt", "ties", "on_error", "chunk_size"))
    kind = type(points).__module__.split(".")[0]
    if kind == "polars" and type(points).__name__ == "LazyFrame":
        raise BindingError("the points are a polars LazyFrame, a query that has not run yet",
                           hint="collect it first: gradcalc.batch(EXPR, frame.collect())")
    table = _Table(points, kind) if kind in KINDS and hasattr(points, "shape") else points
    result = run_arrays(source, table, constants, wrt=wrt, ties=ties, on_error=on_error,
                        chunk_size=chunk_size)
    return result if table is points else table.answers(result, on_error == "null")


class _Table:
    """A DataFrame or an Arrow table as run_arrays reads a mapping: names, and each
    column as float64 when it is asked for (the columns not used are never converted)."""

    def __init__(self, data, kind: str):
        self.data, self.kind = data, kind
        names = data.column_names if kind == "pyarrow" else list(data.columns)
        self.names = [str(name) for name in names]
        self.labels = dict(zip(self.names, names))

    def keys(self) -> list[str]:
        return self.names

    @property
    def shape(self) -> tuple:
        return tuple(self.data.shape)

    def __getitem__(self, name: str):
        import numpy as np

        if self.names.count(name) > 1:  # pandas would give a frame, pyarrow a KeyError
            raise BindingError(f"the column {name} appears twice in the data",
                               hint="rename one of them")
        column = self.data[self.labels[name]]
        try:
            if self.kind == "pandas":
                return column.to_numpy(dtype=np.float64, na_value=np.nan)
            if self.kind == "pyarrow":
                return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
            return np.asarray(column.to_numpy(), dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise BindingError(f"the column {name} is not numbers: {exc}") from None

    def answers(self, result, nulls: bool):
        """The result as the input's kind; `nulls`: the rows not computed are null."""
        library = sys.modules[self.kind]
        if self.kind == "pandas":
            index = self.data.index
            if len(result.bad_rows) and not nulls and not index.is_unique:
                _warn_unaligned()
            frame = library.DataFrame(dict(result), index=index[result.rows])
            frame.attrs["gradcalc"] = {"rows": result.rows, "bad_rows": result.bad_rows,
                                       "problems": result.problems,
                                       "warnings": result.warnings}
            return frame
        missing = None
        if nulls and len(result.bad_rows):
            import numpy as np

            missing = np.zeros(len(result["value"]), dtype=bool)
            missing[result.bad_rows] = True
        if self.kind == "polars":
            columns = [library.Series(name, values) for name, values in result.items()]
            if missing is not None:
                columns = [column.scatter(result.bad_rows, None) for column in columns]
            return library.DataFrame(columns)
        return library.table({name: library.array(values, mask=missing)
                              for name, values in result.items()})


def _warn_unaligned() -> None:
    """Rows left out of a frame whose index repeats a label: aligned by label (assign,
    join), a left-out row would take the answers of a kept row with its label."""
    import warnings

    warnings.warn('rows were left out (on_error="skip") of a DataFrame whose index repeats '
                  'labels, so the answers cannot be lined up with the rows by label: '
                  'DataFrame.assign would give a left-out row the answers of a kept row '
                  'with the same label; use on_error="null", or reset_index() first',
                  stacklevel=4)
