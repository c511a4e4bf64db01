"""The Python API for autograders (Gradescope, nbgrader): `check` and `grade` as
functions, so that a grading script calls gradcalc instead of running a process.

Bindings are a mapping, never keyword arguments, so that an input may be named like an
option (`ties`, `strict`); an unknown option is a TypeError, as for any Python function.
The modules that do the work are imported on the first call (`import gradcalc` stays
light).
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping

from .defaults import CHECK_STEP, CHECK_TOLERANCE
from .limits import DEFAULT, Limits


def check(source: str, bindings: Mapping | None = None, /, *, expect: Mapping | None = None,
          step: float = CHECK_STEP, tol: float = CHECK_TOLERANCE, atol: float = 0.0,
          rounded: bool = False, ties: str = "split", sample: int | None = None,
          seed: int = 0, limits: Limits = DEFAULT):
    """`gradcalc check` as a function: the gradient check of every input of `source` at
    `bindings` ({name: number, nested list, numpy array or constant expression as text}),
    and the answers of `expect` ({key: value}, keys as `--expect`'s: "value", "x",
    "grad(q)", "value(q)"; a value as in bindings, or "@FILE.npy").

    Returns a gradcalc.checking.Report: `.passed`, `.rows` (each with `.verdict`),
    `.gradients`, `.answers`, `.to_json()`. Raises a GradcalcError on bad input (an
    unknown answer name, an answer of the wrong shape, a non-scalar output).
    """
    from . import checking
    from .api import prepare

    graph, xp, values, _ = prepare(source, _mapping(bindings, "bindings"), ties=ties,
                                   limits=limits)
    answers = {key: checking.given_answer(value, xp, f"{key}=", "expect")
               for key, value in _mapping(expect, "expect").items()}
    return checking.check(graph, values, xp, step=step, answers=answers, sample=sample,
                          seed=seed, judge=checking.Judge(tol, atol, rounded))


def grade(source: str, rows: Iterable[Mapping], /, *, bindings: Mapping | None = None,
          tol: float = CHECK_TOLERANCE, atol: float = 0.0, rounded: bool = False,
          ties: str = "split", carry_forward: bool = False, limits: Limits = DEFAULT):
    """`gradcalc grade` as a function: one result per row of `rows` (mappings of column →
    cell, as csv.DictReader, JSON objects or DataFrame.to_dict("records") give them).
    Columns named like the inputs bind them; `value`, `value(NAME)`, `grad(NAME)` are
    answers; other columns are copied. `bindings` are shared by every row.

    Returns a gradcalc.grading.Grades: `.students` (each with `.score`, `.total`,
    `.wrong`, `.carried`, `.first_wrong`, `.row`), `.items()` (the item analysis) and
    `.to_json()`. Raises a GradcalcError naming the row and column of a bad cell.
    """
    from . import grading

    numbered = [(f"row {i}", dict(_mapping(row, f"row {i}")))
                for i, row in enumerate(rows, 1)]
    return grading.grade(source, numbered, _mapping(bindings, "bindings"),
                         judge=grading.Judge(tol, atol, rounded), ties=ties,
                         carry_forward=carry_forward, limits=limits)


def _mapping(value, what: str) -> dict:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise TypeError(f"{what} must be a mapping of names to values, not "
                        f"{type(value).__name__}")
    return dict(value)
