"""The cases behind tests/files/batch/golden.json: `gradcalc batch` on the tricky files of
tests/files/batch under every --keep, output format and --on-error. golden.json holds what
the row-by-row reader and writer (before batch I/O moved to a columnar library) printed;
tests/test_batch_io.py holds today's code to it. Run `python tests/batch_golden.py` to
write golden.json again (only when an output is meant to change)."""
import itertools
import json
import os

from click.testing import CliRunner

HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "files", "batch")
GOLDEN = os.path.join(HERE, "golden.json")

EXPRESSIONS = {
    "plain.csv": "(x+y)*max(z,w) + sigmoid(x*w)",
    "quoted.csv": "x*y + exp(x)",
    "crlf.csv": "x*y",
    "bom.csv": "x-y",
    "blank.csv": "x/y",
    "badcells.csv": "x*y",
    "empty_cells.csv": "x+y",
    "spellings.csv": "x*1",
    "narrow.csv": "x^2",
    "wide.csv": "x*y + c3",
    "domain.csv": "x + log(y - 3)",
    "points.jsonl": "x^y",
    "badrows.jsonl": "x*y",
    "crlf.jsonl": "x+y",
}


def cases():
    """(case name, arguments after `gradcalc`), run from tests/files/batch."""
    for name, expr in EXPRESSIONS.items():
        for keep, out, on_error in itertools.product(("all", "inputs", "none"),
                                                     ("csv", "jsonl"),
                                                     ("stop", "skip", "null")):
            yield (f"{name} {keep} {out} {on_error}",
                   ["batch", expr, "-i", name, "--keep", keep, "--output-format", out,
                    "--on-error", on_error])


def run(cli, args):
    """What the command printed, run in tests/files/batch."""
    here = os.getcwd()
    os.chdir(HERE)
    try:
        ran = CliRunner().invoke(cli, args, catch_exceptions=False)
    finally:
        os.chdir(here)
    return {"code": ran.exit_code, "stdout": ran.stdout, "stderr": ran.stderr}


if __name__ == "__main__":
    from gradcalc.cli import cli

    golden = {case: run(cli, args) for case, args in cases()}
    with open(GOLDEN, "w", encoding="utf-8") as handle:
        json.dump(golden, handle, ensure_ascii=False, indent=1, sort_keys=True)
        handle.write("\n")
