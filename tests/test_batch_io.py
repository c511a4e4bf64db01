"""gradcalc batch's files through the columnar library: the tricky files of tests/files/batch
give the same output, row for row, as the row-by-row reader and writer gave before
(golden.json, written by that code: tests/batch_golden.py); Parquet round trips."""
import csv
import io
import json

import pytest

from batch_golden import GOLDEN, cases, run
from gradcalc.batchfiles import csv_cell
from gradcalc.cli import cli

GOLDEN_OUTPUT = json.load(open(GOLDEN, encoding="utf-8"))


def _changed_on_purpose(case: str, old: dict) -> dict:
    """The changes made on purpose. --keep inputs to CSV copies the inputs' cells as
    written (`-2`), where the old writer wrote the numbers read (`-2.0`); the cells as
    written are those that the old --keep all copied. A JSON line cut short is reported
    at the line's last column, where the old reader, which saw the line's newline, named
    column 1 (of the line after)."""
    name, keep, out, on_error = case.split()
    old = {**old, "stderr": old["stderr"].replace(
        "Expecting ',' delimiter), column 1\n", "Expecting ',' delimiter), column 16\n")}
    if (keep, out) != ("inputs", "csv") or old["code"]:
        return old
    everything = list(csv.reader(io.StringIO(GOLDEN_OUTPUT[f"{name} all csv {on_error}"]
                                             ["stdout"])))
    numbers = old["stdout"].splitlines()
    inputs = [n for n in numbers[0].split(",") if n != "value" and not n.startswith("grad_")]
    where = [everything[0].index(n) for n in inputs]
    lines = [numbers[0]] + [
        ",".join([csv_cell(row[i]) for i in where] + line.split(",")[len(inputs):])
        for row, line in zip(everything[1:], numbers[1:])]
    return {**old, "stdout": "".join(line + "\n" for line in lines)}


@pytest.mark.parametrize("case,args", list(cases()), ids=[case for case, _ in cases()])
def test_output_is_the_old_readers_and_writers_row_for_row(case, args):
    assert run(cli, args) == _changed_on_purpose(case, GOLDEN_OUTPUT[case])
