"""gradcalc batch's files through the columnar library: the tricky files of tests/files/batch
give the same output, row for row, as the row-by-row reader and writer gave before
(golden.json, written by that code: tests/batch_golden.py); Parquet round trips."""
import csv
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

import gradcalc
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


# -- Parquet ----------------------------------------------------------------------------

EXPR = "(x+y)*max(z,w) + sigmoid(x*w)"


def _batch(*args):
    ran = CliRunner().invoke(cli, ["batch", *args])
    return ran


def _csv_numbers(text):
    rows = list(csv.DictReader(io.StringIO(text)))
    return {name: [row[name] for row in rows] for name in rows[0]}


def test_csv_to_parquet_and_back_keeps_every_value(tmp_path):
    source = tmp_path / "p.csv"
    source.write_text("id,x,y,z,w\n007,-2,5,-4,1\nb,1,2,3,3\n\"c, d\",0.5,-1,2,-2\n")
    assert _batch(EXPR, "-i", str(source), "-o", str(tmp_path / "out.parquet")).exit_code == 0
    assert _batch(EXPR, "-i", str(source), "-o", str(tmp_path / "out.csv")).exit_code == 0
    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column_names == ["id", "x", "y", "z", "w", "value", "grad_x", "grad_y",
                                  "grad_z", "grad_w"]
    assert table.schema.field("id").type == pa.string()  # text stays text: 007
    assert table["id"].to_pylist() == ["007", "b", "c, d"]
    by_csv = _csv_numbers((tmp_path / "out.csv").read_text())
    for name in ["x", "y", "value", "grad_x", "grad_w"]:
        assert table[name].to_pylist() == [float(v) for v in by_csv[name]], name
    # and back: Parquet in, CSV out, the same numbers as from the CSV
    ran = _batch(EXPR, "-i", str(tmp_path / "out.parquet"), "--keep", "inputs",
                 "--output-format", "csv")
    assert ran.exit_code == 0, ran.stderr
    again = _csv_numbers(ran.stdout)
    assert again["value"] == by_csv["value"] and again["x"] == ["-2.0", "1.0", "0.5"]


def test_parquet_types_nulls_and_bad_rows(tmp_path):
    source = tmp_path / "p.parquet"
    pq.write_table(pa.table({"n": pa.array([1, 2, None, 4], pa.int64()),
                             "x": [0.5, float("nan"), 1.0, -1.0],
                             "label": ["a", None, "c", "d"]}), source)
    ran = _batch("n*sqrt(x)", "-i", str(source))
    assert ran.exit_code == 2
    assert ran.stderr.startswith(f"error: {source}, row 2, column x: the value is missing (NaN)")
    ran = _batch("n*sqrt(x)", "-i", str(source), "--on-error", "null", "-o",
                 str(tmp_path / "out.parquet"))
    assert ran.exit_code == 0
    assert "row 3, column n: the value is missing" in ran.stderr
    assert "row 4, column x: sqrt is defined only" in ran.stderr
    out = pq.read_table(tmp_path / "out.parquet")
    assert out.schema.field("n").type == pa.int64()  # the input's own types, kept
    assert out["label"].to_pylist() == ["a", None, "c", "d"]
    expected = gradcalc.evaluate("n*sqrt(x)", n=1, x=0.5)
    assert out["value"].to_pylist() == [expected.value, None, None, None]
    assert out["grad_x"].to_pylist()[0] == expected.gradients["x"]
    ran = _batch("n*x", "-i", str(source), "--on-error", "skip", "--output-format", "csv")
    assert ran.stdout.splitlines() == ["n,x,label,value,grad_n,grad_x", "1,0.5,a,0.5,0.5,1.0",
                                       "4,-1.0,d,-4.0,-1.0,4.0"]


def test_parquet_errors(tmp_path):
    (tmp_path / "text.parquet").write_text("x\n1\n")
    ran = _batch("x", "-i", str(tmp_path / "text.parquet"))
    assert ran.exit_code == 2 and "is not a Parquet file" in ran.stderr
    pq.write_table(pa.table({"x": [True, False], "d": pa.array([1, 2], pa.date32())}),
                   tmp_path / "typed.parquet")
    ran = _batch("d*2", "-i", str(tmp_path / "typed.parquet"))
    assert ran.exit_code == 2 and "the column d holds date32[day], not numbers" in ran.stderr
    assert "Traceback" not in ran.stderr


def test_parquet_of_no_rows_and_an_empty_csv(tmp_path):
    (tmp_path / "none.csv").write_text("x,y\n")
    ran = _batch("x*y", "-i", str(tmp_path / "none.csv"), "-o", str(tmp_path / "o.parquet"))
    assert ran.exit_code == 0, ran.stderr
    assert pq.read_table(tmp_path / "o.parquet").num_rows == 0
    ran = _batch("x*y", "-i", str(tmp_path / "o.parquet"), "--output-format", "csv",
                 "--keep", "inputs")
    assert ran.stdout == "x,y,value,grad_x,grad_y\n"


def test_a_long_file_through_both_readers_and_the_odd_numbers(tmp_path):
    """Chunks of plain lines (polars) and of quoted ones (row by row) in one file, and
    numbers whose text polars spells otherwise (1e-05, 1e+16, nan): as Python writes them."""
    quoted = '"q"'
    lines = [f"{v!r},{quoted if i % 1000 == 999 else 'p'}" for i, v in
             enumerate([1e-5, 1e16, 2.5e-7, 0.1, -3e300] * 1000)]
    (tmp_path / "p.csv").write_text("x,t\n" + "\n".join(lines) + "\n")
    ran = _batch("x*1e10", "-i", str(tmp_path / "p.csv"), "--chunk-size", "700")
    assert ran.exit_code == 0, ran.stderr
    out = ran.stdout.splitlines()
    assert out[1:] == [f"{line},{float(line.split(',')[0]) * 1e10!r},10000000000.0"
                       for line in lines]
    assert "overflowed to -inf" in ran.stderr


def test_csv_text_cells_become_the_json_strings_json_dumps_writes(tmp_path):
    texts = ["a\\b", "tab\there", "ünï ☃", "bell\x07", "", "007", " 2 ", "\u2028"]
    plain = "".join(f"{i},{text}\n" for i, text in enumerate(texts))
    quoted = '9,"say ""hi"", ok"\n'
    (tmp_path / "p.csv").write_text("x,t\n" + plain + quoted, encoding="utf-8")
    for chunk in ("1", "100"):  # one row at a time, and the plain lines in one chunk
        ran = _batch("x", "-i", str(tmp_path / "p.csv"), "--output-format", "jsonl",
                     "--chunk-size", chunk)
        assert ran.exit_code == 0, ran.stderr
        lines = ran.stdout.split("\n")[:-1]  # not splitlines: U+2028 is no line end here
        expected = [json.dumps({"x": float(i), "t": t, "value": float(i), "grad_x": 1.0},
                               ensure_ascii=False)
                    for i, t in enumerate(texts + ['say "hi", ok'])]
        expected[-1] = expected[-1].replace('"x": 8.0', '"x": 9.0').replace(
            '"value": 8.0', '"value": 9.0')
        assert lines == expected


def test_without_the_batch_extra_one_clear_message():
    import subprocess
    import sys

    probe = ("import sys; sys.modules['polars'] = None\n"  # as if not installed
             "from gradcalc.cli import main\nmain(['batch', 'x', '-i', '/dev/null'])")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        "error: gradcalc batch reads and writes files with polars and pyarrow, and polars is "
        "not installed", 'hint: install them: pip install "gradcalc[batch]"']


def test_parquet_in_writes_csv_text_to_standard_output_unless_parquet_is_asked_for(tmp_path):
    """Parquet bytes on a terminal or through `| head` help nobody: standard output gets
    the CSV that --output-format csv gives, and --output-format parquet still writes a
    Parquet stream that pyarrow reads back."""
    pq.write_table(pa.table({"x": [-2.0, 1.0], "y": [5.0, 2.0], "z": [-4.0, 3.0],
                             "w": [1.0, 3.0]}), tmp_path / "p.parquet")
    plain = _batch(EXPR, "-i", str(tmp_path / "p.parquet"))
    asked = _batch(EXPR, "-i", str(tmp_path / "p.parquet"), "--output-format", "csv")
    assert plain.exit_code == 0 and plain.stdout == asked.stdout
    assert plain.stdout.startswith("x,y,z,w,value,")
    binary = CliRunner().invoke(cli, ["batch", EXPR, "-i", str(tmp_path / "p.parquet"),
                                      "--output-format", "parquet"])
    assert binary.exit_code == 0
    table = pq.read_table(pa.BufferReader(binary.stdout_bytes))
    assert table["value"].to_pylist() == [float(v) for v in _csv_numbers(plain.stdout)["value"]]
