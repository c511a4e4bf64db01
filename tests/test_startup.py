"""What a cold `gradcalc eval` imports: only what its path needs (issue 7's start-up target).

Each check runs the command in a fresh interpreter and lists the modules it loaded.
Timing is left to benchmarks/ (a machine shared with other work makes timed tests flaky);
these tests pin down the causes of a slow start instead.
"""
import json
import subprocess
import sys

import pytest

PROBE = """
import io, json, sys
from contextlib import redirect_stdout, redirect_stderr
from gradcalc.cli import main
out = io.StringIO()
with redirect_stdout(out), redirect_stderr(io.StringIO()):
    try:
        main(json.loads(sys.argv[1]))
    except SystemExit:
        pass
print(json.dumps({"modules": sorted(sys.modules), "stdout": out.getvalue()}))
"""

LECTURE = ["eval", "(x+y)*max(z,w)", "x=-2", "y=5", "z=-4", "w=1"]


def _run(args):
    done = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


def _loaded(modules, package):
    return [m for m in modules if m == package or m.startswith(package + ".")]


def test_json_output_imports_neither_rich_nor_lark():
    ran = _run([*LECTURE, "--json"])
    assert json.loads(ran["stdout"])["value"] == 3
    assert _loaded(ran["modules"], "rich") == []
    assert _loaded(ran["modules"], "lark") == []  # the parse table is prebuilt
    assert "pickle" not in ran["modules"]  # and it is JSON, not a pickled cache


def test_a_scalar_eval_does_not_import_numpy():
    assert _loaded(_run([*LECTURE, "--json"])["modules"], "numpy") == []


def test_writing_the_json_document_does_not_import_numpy(tmp_path):
    ran = _run([*LECTURE, "--json", "-o", str(tmp_path / "doc.json")])
    assert _loaded(ran["modules"], "numpy") == []
    assert json.loads((tmp_path / "doc.json").read_text("utf-8"))["value"] == 3


def test_writing_arrays_prints_the_summary_without_loading_rich(tmp_path):
    ran = _run(["eval", "sum(W*W)", "W=[[1, 2]]", "-o", str(tmp_path / "g.npz")])
    assert ran["stdout"] == "f = 5   ∂f/∂W = [[2, 4]]\n"
    assert "rich.console" not in ran["modules"] and "rich.table" not in ran["modules"]


def test_check_as_json_does_not_import_rich():
    ran = _run(["check", "x*y", "x=1", "y=2", "--json"])
    assert _loaded(ran["modules"], "rich") == []
    assert json.loads(ran["stdout"])["passed"] is True


@pytest.mark.parametrize("args", [[*LECTURE, "--json"], LECTURE, ["eval", "x*y", "x=2", "y=3"]])
def test_no_package_metadata_scan(args):
    assert _loaded(_run(args)["modules"], "importlib.metadata") == []


def test_error_suggestions_are_imported_only_for_the_error():
    assert "difflib" not in _run([*LECTURE, "--json"])["modules"]
    ran = _run(["eval", "sigmod(x)", "x=1", "--json"])
    assert "difflib" in ran["modules"]
    assert "did you mean `sigmoid`?" in json.loads(ran["stdout"])["error"]["hint"]


def test_the_table_does_import_rich():
    # The other side of the first test: the probe would notice rich if it were loaded.
    assert _loaded(_run(LECTURE)["modules"], "rich") != []


# What only another command (check, graph), --exact (fractions, and decimal with it) or
# the table (rich) needs; dataclasses compiles a class's methods when it is imported.
ONLY_ELSEWHERE = ["rich", "fractions", "decimal", "dataclasses", "gradcalc.checking",
                  "gradcalc.picture", "gradcalc.exact", "polars", "pyarrow", "pandas",
                  "gradcalc.batching", "gradcalc.batchfiles", "sympy", "gradcalc.symbolic",
                  "gradcalc.dual", "gradcalc.hessian"]


@pytest.mark.parametrize("args", [LECTURE, ["eval", "sigmoid(x)", "x=1"]])
def test_json_output_imports_only_its_own_path(args):
    ran = _run([*args, "--json"])
    assert "value" in json.loads(ran["stdout"])
    assert [m for package in ONLY_ELSEWHERE for m in _loaded(ran["modules"], package)] == []


@pytest.mark.parametrize("args, module", [
    ([*LECTURE, "--exact", "--json"], "gradcalc.exact"),
    ([*LECTURE, "--exact", "--json"], "fractions"),
    (["check", "(x+y)*z", "x=-2", "y=5", "z=-4"], "gradcalc.checking"),
    (["graph", "(x+y)*z", "x=-2", "y=5", "z=-4"], "gradcalc.picture"),
    (["batch", "x*2", "-i", "/dev/null"], "polars"),
    (["eval", "(x+y)*z", "--symbolic"], "sympy"),
    (["hessian", "x*y", "x=1", "y=2"], "gradcalc.dual"),
])
def test_the_paths_that_need_a_module_do_import_it(args, module):
    # The other side of the test above: the probe sees these modules where they are used.
    assert module in _run(args)["modules"]


@pytest.mark.parametrize("args", [LECTURE, [*LECTURE, "--steps"]])
def test_the_table_does_not_load_rich_emoji_table(args):
    modules = _run(args)["modules"]
    assert "rich.console" in modules
    assert "rich._emoji_codes" not in modules


def test_the_objects_left_at_exit_are_frozen_not_collected_again():
    # atexit calls the last registered first: this report runs after gradcalc's freeze.
    report = "import atexit, gc; atexit.register(lambda: print(gc.get_freeze_count()))"
    done = subprocess.run([sys.executable, "-c", f"{report}; import gradcalc.cli"],
                          capture_output=True, text=True, check=True)
    assert int(done.stdout) > 10_000  # Click's and gradcalc's objects, left out of it


def test_the_command_line_is_imported_with_the_cycle_collector_off():
    # The console script's entry: not one collection while Click and gradcalc.cli load.
    probe = ("import gc, sys\nimport gradcalc.__main__ as entry\n"
             "before = gc.get_stats()[0]['collections']\nsys.argv = ['gradcalc', '--version']\n"
             "try:\n    entry.main()\nexcept SystemExit:\n    pass\n"
             "print(gc.get_stats()[0]['collections'] - before, 'click' in sys.modules, "
             "gc.isenabled())")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          check=True)
    # ... and back on for the command itself: a long batch run must not hoard cycles.
    assert done.stdout.split()[-3:] == ["0", "True", "True"]


@pytest.mark.parametrize("extra", [["--json"], []])
def test_an_eval_imports_no_notebook_or_latex_code(extra):
    """IPython, Jupyter's packages and the notebook, magics and LaTeX renderers load only
    when a notebook or --format latex asks for them."""
    modules = _run([*LECTURE, *extra])["modules"]
    for package in ("IPython", "ipykernel", "nbclient", "nbformat", "gradcalc.notebook",
                    "gradcalc.magics", "gradcalc.latex"):
        assert _loaded(modules, package) == [], package
