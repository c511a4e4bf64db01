"""gradcalc batch on inputs a data scientist meets and the usual tests do not make: Parquet
columns of text with nulls, integers past 2**53, files whose names do not say their format,
inputs of no rows. Oracles: numpy on the same numbers, and the output of the same rows in
the ordinary case."""
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from click.testing import CliRunner

from gradcalc.cli import cli


def _batch(*args):
    return CliRunner().invoke(cli, ["batch", *args])


def _csv_column(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    where = lines[0].split(",").index(name)
    return [line.split(",")[where] for line in lines[1:]]


def test_a_parquet_column_of_text_with_a_null_is_a_missing_value(tmp_path):
    cells = ["1.5", None, "abc", " 2 ", "1e3"]
    pq.write_table(pa.table({"s": pa.array(cells, pa.string())}), tmp_path / "t.parquet")
    ran = _batch("s*3", "-i", str(tmp_path / "t.parquet"), "--on-error", "null",
                 "--output-format", "csv")
    assert ran.exit_code == 0, ran.stderr
    expected = [repr(float(c) * 3) if c not in (None, "abc") else "" for c in cells]
    assert _csv_column(ran.stdout, "value") == expected
    assert "row 2, column s: the value is missing" in ran.stderr
    assert "row 3, column s: 'abc' is not a number" in ran.stderr
    ran = _batch("s*3", "-i", str(tmp_path / "t.parquet"))
    assert ran.exit_code == 2
    assert ran.stderr.startswith(f"error: {tmp_path / 't.parquet'}, row 2, column s: "
                                 "the value is missing")


def test_integers_past_two_to_the_53_are_read_as_the_nearest_float(tmp_path):
    signed = np.array([1, -(2**62) - 1, 2**63 - 1], dtype=np.int64)
    unsigned = np.array([0, 2**53 + 1, 2**64 - 1], dtype=np.uint64)
    pq.write_table(pa.table({"n": signed, "u": unsigned}), tmp_path / "big.parquet")
    ran = _batch("n*2 + u", "-i", str(tmp_path / "big.parquet"), "--output-format", "csv")
    assert ran.exit_code == 0, ran.stderr
    expected = signed.astype(np.float64) * 2 + unsigned.astype(np.float64)
    assert [float(v) for v in _csv_column(ran.stdout, "value")] == expected.tolist()
    assert _csv_column(ran.stdout, "n") == [str(v) for v in signed.tolist()]  # as written


def test_an_input_of_no_rows_gives_the_parquet_schema_one_row_gives(tmp_path):
    table = pa.table({"x": [1.5], "n": pa.array([2], pa.int32()), "id": ["a"],
                      "s": ["3"]})
    csv_text = "x,n,id,s\n1.5,2,a,3\n"
    for name, write in [("p.parquet", lambda t, path: pq.write_table(t, path)),
                        ("p.csv", lambda t, path: path.write_text(
                            csv_text if t.num_rows else csv_text.splitlines()[0] + "\n"))]:
        schemas = []
        for rows in (1, 0):
            source, out = tmp_path / f"{rows}{name}", tmp_path / f"{rows}{name}.out.parquet"
            write(table.slice(0, rows), source)
            ran = _batch("x*n*s", "-i", str(source), "-o", str(out))
            assert ran.exit_code == 0, ran.stderr
            schemas.append(pq.read_schema(out).remove_metadata())
        assert schemas[0] == schemas[1], name


def test_parquet_is_known_by_its_first_bytes_on_standard_input_and_under_any_name(tmp_path):
    pq.write_table(pa.table({"x": [1.0, -2.5], "y": [4.0, 0.5]}), tmp_path / "p.parquet")
    data = (tmp_path / "p.parquet").read_bytes()
    named = _batch("x*y", "-i", str(tmp_path / "p.parquet"), "--output-format", "csv")
    assert named.exit_code == 0, named.stderr
    assert _csv_column(named.stdout, "grad_x") == ["4.0", "0.5"]  # y, by hand
    piped = CliRunner().invoke(cli, ["batch", "x*y", "--output-format", "csv"], input=data)
    assert piped.exit_code == 0, piped.stderr
    (tmp_path / "p.dat").write_bytes(data)
    unnamed = _batch("x*y", "-i", str(tmp_path / "p.dat"), "--output-format", "csv")
    assert unnamed.exit_code == 0, unnamed.stderr
    assert piped.stdout == unnamed.stdout == named.stdout
    (tmp_path / "p.csv").write_bytes(data)
    misnamed = _batch("x*y", "-i", str(tmp_path / "p.csv"))
    assert misnamed.exit_code == 2
    assert misnamed.stderr == (f"error: {tmp_path / 'p.csv'} is a Parquet file, not CSV\n"
                               "hint: give --input-format parquet\n")
    fixed = _batch("x*y", "-i", str(tmp_path / "p.csv"), "--input-format", "parquet",
                   "--output-format", "csv")
    assert fixed.stdout == named.stdout


def test_an_output_extension_batch_does_not_write_is_refused_not_filled_with_csv(tmp_path):
    (tmp_path / "p.csv").write_text("x,y\n1,2\n-3,0.5\n")
    source = str(tmp_path / "p.csv")
    ran = _batch("x*y", "-i", source, "-o", str(tmp_path / "grads.npz"))
    assert ran.exit_code == 2
    assert ran.stderr == (f"error: cannot tell the format to write {tmp_path / 'grads.npz'} "
                          "in from its extension .npz\nhint: name it .csv, .jsonl or .parquet, "
                          "or give --output-format csv, jsonl or parquet\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.csv"]
    printed = _batch("x*y", "-i", source)
    assert printed.stdout.splitlines()[1:] == ["1,2,2.0,2.0,1.0", "-3,0.5,-1.5,0.5,-3.0"]
    ran = _batch("x*y", "-i", source, "-o", str(tmp_path / "grads.tsv"), "--output-format", "csv")
    assert ran.exit_code == 0 and (tmp_path / "grads.tsv").read_text() == printed.stdout
    ran = _batch("x*y", "-i", source, "-o", str(tmp_path / "grads"))  # no extension
    assert ran.exit_code == 0 and (tmp_path / "grads").read_text() == printed.stdout


def test_a_row_of_one_cell_is_counted_in_the_singular(tmp_path):
    (tmp_path / "p.csv").write_text("x,y\n1,2\n5\n")
    ran = _batch("x*y", "-i", str(tmp_path / "p.csv"), "--on-error", "skip")
    assert f"{tmp_path / 'p.csv'}, line 3: the row has 1 cell but the header has 2" in ran.stderr
    assert ran.stdout == "x,y,value,grad_x,grad_y\n1,2,2.0,2.0,1.0\n"


def test_a_directory_of_parquet_parts_is_refused_with_what_to_do(tmp_path):
    parts = tmp_path / "points"
    parts.mkdir()
    x = np.array([0.5, -1.0, 2.0, 3.0])
    for i in range(2):
        pq.write_table(pa.table({"x": x[2 * i:2 * i + 2]}), parts / f"part.{i}.parquet")
    ran = _batch("x*x", "-i", str(parts))
    assert ran.exit_code == 2
    assert ran.stderr == (f"error: {parts} is a directory, not a file\nhint: batch reads one "
                          "file: give each of its files in turn (a partitioned Parquet data "
                          "set too)\n")
    values = []
    for i in range(2):  # as the hint says
        ran = _batch("x*x", "-i", str(parts / f"part.{i}.parquet"), "--output-format", "csv")
        assert ran.exit_code == 0, ran.stderr
        values += [float(v) for v in _csv_column(ran.stdout, "value")]
    assert values == (x * x).tolist()
