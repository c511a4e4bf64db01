"""Hostile input: whatever arrives (from a stranger's web form, 200 students' files, a
container run as root), gradcalc ends with a result or one clear error, in bounded time and
memory, never with a traceback or "this is a bug".

One test per kind of fault, with its instance and its kin. Each runs gradcalc as a child
process capped in memory (tests/capped.py) and asserts the exit code, the one-line
message, the JSON error object under --json, and generous bounds on the time and the peak
memory that the child really used (2 shared cores in CI).
"""
import json
import math
import signal
from importlib import resources

import jsonschema
import pytest

from capped import run_capped

SECONDS = 60  # per command: each of these ends in about a second on a quiet machine
PEAK = 400 << 20  # resident bytes; gradcalc with numpy loaded uses about 60 MB


def _validator(name: str):
    text = resources.files("gradcalc").joinpath("schemas", f"{name}.schema.json").read_text(
        encoding="utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


ERROR_SCHEMA = _validator("error")


def within_bounds(ran, seconds: float = SECONDS, peak: int = PEAK) -> None:
    assert ran.seconds < seconds, ran
    assert ran.peak < peak, ran


def refused(ran, *fragments, code: int = 2, kind: str | None = None):
    """One error: exit `code`, a first line `error: ...` holding the fragments, no
    second error, no traceback, no bug report; under --json, the error object."""
    assert ran.code == code, ran
    lines = ran.stderr.splitlines()
    assert lines and lines[0].startswith(("error: ", "gradcalc: ")), ran
    assert sum(line.startswith(("error:", "gradcalc:")) for line in lines) == 1, ran
    assert "Traceback" not in ran.stderr and "this is a bug" not in ran.stderr, ran
    for fragment in fragments:
        assert fragment in lines[0], (fragment, ran)
    if ran.stdout.strip():  # the commands run with --json here
        document = ran.json()
        ERROR_SCHEMA.validate(document)
        if kind is not None:
            assert document["error"]["kind"] == kind
    within_bounds(ran)
    return ran


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


# -- A1: JSON nested deeper than the parser can recurse ----------------------------------
DEEP = "[" * 3000 + "]" * 3000


def test_deep_json_in_bindings_and_answers_is_one_error(tmp_path):
    bindings = write(tmp_path / "b.json", '{"x": %s}' % DEEP)
    answers = write(tmp_path / "a.json", '{"value": %s}' % DEEP)
    refused(run_capped("eval", "x", "--bindings", bindings, "--json"),
            "nests more than 64 levels", "line 1, column", kind="usage")
    refused(run_capped("check", "x", "x=1", "--answers", answers, "--json"),
            "nests more than 64 levels", kind="usage")


def test_deep_json_in_a_batch_row_is_a_bad_row(tmp_path):
    rows = write(tmp_path / "in.jsonl", '{"x": 1}\n{"x": %s}\n{"x": 3}\n' % DEEP)
    refused(run_capped("batch", "2*x", "-i", rows), "line 2", "nests more than 64 levels")
    ran = run_capped("batch", "2*x", "-i", rows, "--on-error", "skip")
    assert ran.code == 0, ran
    assert [json.loads(line)["value"] for line in ran.stdout.splitlines()] == [2.0, 6.0]
    assert "line 2" in ran.stderr and "nests more than 64 levels" in ran.stderr
    within_bounds(ran)
    # brackets inside a string are text, not nesting: this row is fine
    rows = write(tmp_path / "ok.jsonl", '{"x": 2, "note": "%s"}\n' % DEEP)
    ran = run_capped("batch", "2*x", "-i", rows)
    assert ran.code == 0 and json.loads(ran.stdout)["value"] == 4.0, ran


# -- A2: JSON integers too long for a float, or for Python's int parser -------------------
@pytest.mark.parametrize("digits", [401, 5001])
def test_huge_json_integers_are_one_error(tmp_path, digits):
    number = "9" * digits
    bindings = write(tmp_path / "b.json", '{"x": %s}' % number)
    answers = write(tmp_path / "a.json", '{"value": %s}' % number)
    expected = "too large for a float" if digits < 4000 else f"{digits:,} digits"
    refused(run_capped("eval", "x", "--bindings", bindings, "--json"), expected)
    refused(run_capped("check", "x", "x=1", "--answers", answers, "--json"), expected)


@pytest.mark.parametrize("digits", [401, 5001])
def test_huge_json_integers_in_batch_rows(tmp_path, digits):
    number = "9" * digits
    # in a computed column: the row is bad (as any value that is not a finite float)
    rows = write(tmp_path / "in.jsonl", '{"x": 1}\n{"x": %s}\n' % number)
    refused(run_capped("batch", "x", "-i", rows), "line 2")
    # in a column that is only copied through: copied whole (JSON) or refused (too long)
    rows = write(tmp_path / "pass.jsonl", '{"x": 1, "id": %s}\n' % number)
    for fmt in ("jsonl", "csv"):
        ran = run_capped("batch", "x", "-i", rows, "--output-format", fmt)
        if digits < 4000:
            assert ran.code == 0 and number in ran.stdout, ran
            within_bounds(ran)
        else:
            refused(ran, "line 1", f"{digits:,} digits")


# -- A3: max and min of a NaN ------------------------------------------------------------
@pytest.mark.parametrize("program,ties", [("max(exp(x)-exp(x), y)", "split"),
                                          ("max(y, exp(x)-exp(x))", "first"),
                                          ("min(exp(x)-exp(x), y, 2)", "split")])
def test_max_and_min_of_nan_are_nan_with_a_warning(program, ties):
    """inf - inf is NaN, and NaN wins max and min (numpy's maximum, IEEE 754-2019's
    maximum): the value is NaN and so is every gradient through it, each with a warning;
    whatever the order of the arguments (Python's max(1, nan) would say 1)."""
    ran = run_capped("eval", program, "x=1000", "y=1", "--json", "--ties", ties)
    assert ran.code == 0, ran
    document = ran.json()
    assert document["value"] == "nan"
    assert document["gradients"] == {"x": "nan", "y": "nan"}
    assert "the gradient for x is nan" in ran.stderr
    assert "the gradient for y is nan" in ran.stderr
    within_bounds(ran)


@pytest.mark.parametrize("command", [["check"], ["graph"],
                                     ["eval", "--format", "markdown", "--steps"]])
def test_max_of_nan_in_every_command(command):
    ran = run_capped(*command[:1], "max(exp(x)-exp(x), y)", "x=1000", "y=1", *command[1:])
    assert ran.code == 0, ran
    assert "Traceback" not in ran.stderr and "this is a bug" not in ran.stderr
    within_bounds(ran)


def test_max_without_nan_is_unchanged():
    """The oracle: a winner takes the gradient, a tie splits it (PyTorch's convention)."""
    ran = run_capped("eval", "max(x, y, 1)", "x=3", "y=3", "--json")
    assert ran.json()["gradients"] == {"x": 0.5, "y": 0.5}


# -- A4: --exact's size check must not overflow -------------------------------------------
@pytest.mark.parametrize("program,bindings", [("2^(10^400)", []), ("(1/3)^(-10^400)", []),
                                              ("x^y", ["x=1e308", "y=1e308"])])
def test_exact_powers_past_any_size_are_one_limit_error(program, bindings):
    refused(run_capped("eval", program, *bindings, "--exact", "--json"),
            "the exact result would have more than 10^15 digits", kind="limit")


def test_exact_powers_within_the_limit_are_exact():
    ran = run_capped("eval", "2^3000 - 2*2^2999", "--exact", "--json")
    assert ran.code == 0 and ran.json()["value"] == "0", ran


# -- A5: lone surrogates in JSON ----------------------------------------------------------
def test_a_lone_surrogate_in_bindings_is_one_error(tmp_path):
    for text in ('{"x": "\\ud800"}', '{"\\udfff": 1, "x": 1}', '{"x": 1, "l": ["\\ud800"]}'):
        bindings = write(tmp_path / "b.json", text)
        refused(run_capped("eval", "x", "--bindings", bindings, "--json"),
                "half of a surrogate pair", kind="usage")


def test_a_lone_surrogate_in_a_batch_row_does_not_break_the_output(tmp_path):
    rows = write(tmp_path / "in.jsonl", '{"x": 1, "n": "a"}\n{"x": 2, "n": "\\ud800"}\n')
    for fmt in ("csv", "jsonl"):
        refused(run_capped("batch", "x", "-i", rows, "--output-format", fmt), "line 2",
                "surrogate")
        ran = run_capped("batch", "x", "-i", rows, "--output-format", fmt,
                         "--on-error", "null")
        assert ran.code == 0 and len(ran.stdout.splitlines()) == 2 + (fmt == "csv"), ran
    # a whole pair is one character, and fine
    rows = write(tmp_path / "ok.jsonl", '{"x": 1, "n": "\\ud83d\\ude00"}\n')
    ran = run_capped("batch", "x", "-i", rows)
    assert ran.code == 0 and json.loads(ran.stdout)["n"] == "\U0001f600", ran


# -- A6: the user's environment: a closed or full standard output -------------------------
@pytest.mark.parametrize("args", [["eval", "x", "x=1"], ["eval", "x+", "x=1", "--json"],
                                  ["check", "x", "x=1", "--json"], ["graph", "x", "x=1"]])
@pytest.mark.parametrize("where", ["closed", "full"])
def test_a_closed_or_full_standard_output_is_one_line(args, where):
    if where == "full":
        with open("/dev/full", "wb") as full:
            ran = run_capped(*args, stdout=full)
    else:
        ran = run_capped(*args, stdout="closed")
    assert ran.code == 2, ran
    lines = ran.stderr.splitlines()
    assert lines[-1].startswith("error: cannot write the output: "), ran
    assert ("closed" if where == "closed" else "No space left") in lines[-1]
    assert "Traceback" not in ran.stderr and "Exception ignored" not in ran.stderr, ran
    assert "bug" not in ran.stderr
    within_bounds(ran)


@pytest.mark.parametrize("args,message", [(["eval", "-", "x=1"], "the expression is empty"),
                                          (["batch", "x"], "<stdin> is empty")])
def test_a_closed_standard_input_reads_as_empty(args, message):
    ran = run_capped(*args, stdin=None, stdin_closed=True)
    refused(ran, message)


def test_a_closed_standard_output_is_no_error_when_it_is_not_used(tmp_path):
    rows = write(tmp_path / "in.csv", "x\n1\n")
    ran = run_capped("batch", "x", "-i", rows, "-o", str(tmp_path / "out.csv"),
                     stdout="closed")
    assert ran.code == 0, ran
    assert (tmp_path / "out.csv").read_text() == "x,value,grad_x\n1,1.0,1.0\n"


# -- A7: the JSON error object on every failure under --json ------------------------------
def test_out_of_memory_under_json_is_the_error_object():
    program = "+".join(["sin(x)"] * 100_000)
    ran = run_capped("eval", "-", "x=1", "--json", stdin=program.encode(), memory=100 << 20)
    refused(ran, "out of memory", kind="memory")


def test_interrupted_under_json_is_the_error_object():
    program = "+".join(["x"] * 400_000)
    ran = run_capped("eval", "-", "x=1", "--json", stdin=program.encode(),
                     signal_after=(1.0, signal.SIGINT))
    refused(ran, "interrupted", code=130, kind="interrupted")


def test_a_bug_under_json_is_the_error_object(monkeypatch, gradcalc_main):
    import gradcalc.cli

    def broken(*args, **kwargs):
        raise RuntimeError("a deliberate fault")

    monkeypatch.setattr(gradcalc.cli, "run_graph", broken)
    ran = gradcalc_main("eval", "x", "x=1", "--json")
    assert ran.code == 70
    assert ran.stderr.startswith("gradcalc: internal error (RuntimeError: a deliberate fault)")
    document = ran.json()
    ERROR_SCHEMA.validate(document)
    assert document["error"]["kind"] == "internal"


# -- B8: parsing is linear in the length of lists and of statement lists -------------------
def test_a_repetition_is_extended_in_place():
    """The reduction of `_star: _star "," expr` extends its list: the same list object
    comes back, so n elements cost O(n), not the O(n²) of a copy per element."""
    from gradcalc import parse

    shaper = parse._shaper([parse._SPLICE, 0, parse._KEEP], None, False)
    items = ["a", "b"]
    assert shaper([items, ",", "c"]) is items and items == ["a", "b", "c"]


def test_long_lists_and_many_statements_parse_in_bounded_time(tmp_path):
    """200,000 list elements took 63 s and 300,000 statements 223 s when each element
    copied the list; an eighth of each, with room for a loaded machine."""
    elements = write(tmp_path / "list.gc", "v = [" + ",".join(["1"] * 20_000) + "]; sum(v)")
    ran = run_capped("eval", f"@{elements}", "--upstream", "1")
    assert ran.code == 0 and "f = 20000" in ran.stdout, ran
    within_bounds(ran, seconds=30)
    statements = "\n".join(f"a{i} = x + {i}" for i in range(25_000)) + "\na24999 * 2"
    ran = run_capped("eval", "-", "x=1", "--json", stdin=statements.encode())
    assert ran.code == 0 and ran.json()["value"] == 50_000, ran
    within_bounds(ran, seconds=30)


# -- B9: gates calling gates run each body once per pass ------------------------------------
def nested_gates(levels: int, output: str = "g{n}(y)", combine: str = "{g}({g}(x))") -> str:
    """g1(x) = x*x, and each g_k calls g_(k-1) twice (the report's program composes them,
    g_k(x) = g_(k-1)(g_(k-1)(x)); `combine` may add them instead)."""
    lines = ["g1(x) = x*x"] + [f"g{k}(x) = " + combine.format(g=f"g{k - 1}")
                               for k in range(2, levels + 1)]
    return "; ".join(lines + [output.format(n=levels)])


SUM = "{g}(x) + {g}(x)"  # g_k(x) = 2^(k-1)·x², so ∂g_k/∂x = 2^k·x: finite at any depth


def test_nested_gates_run_each_body_once_per_pass(monkeypatch):
    """g_k calls g_(k-1) twice: a pass computes 2^k - 1 bodies, and the backward pass
    reuses them. Running the body again at every level made it k·2^k (31 s at k = 19).
    The oracle: g_k(y) = 2^(k-1)·y², whose derivative is 2^k·y."""
    import gradcalc
    from gradcalc import run

    calls = []
    real = run.forward
    monkeypatch.setattr(run, "forward", lambda *a, **k: calls.append(1) or real(*a, **k))
    levels = 10
    result = gradcalc.evaluate(nested_gates(levels, combine=SUM), y=1.5)
    assert len(calls) == 2 ** levels - 1  # one per gate call (g_k once, g_1 2^(k-1) times)
    assert result.value == 2 ** 9 * 1.5 ** 2
    assert result.gradients["y"] == 2 ** 10 * 1.5


def test_the_nested_gates_of_the_report_are_bounded():
    """The report's program, 14 levels deep instead of 19: its value overflows (a
    warning), and it ends in a second; so does the sum form, whose answer is known."""
    ran = run_capped("eval", nested_gates(14), "y=1.0000001", "--json")
    assert ran.code == 0 and "overflowed" in ran.stderr, ran
    within_bounds(ran, seconds=60)
    ran = run_capped("eval", nested_gates(14, combine=SUM), "y=-3", "--json")
    assert ran.code == 0 and ran.json()["gradients"]["y"] == 2 ** 14 * -3, ran
    within_bounds(ran, seconds=60)


def test_a_jacobian_through_gates_counts_their_bodies():
    """A vector output's Jacobian is one backward pass per element, each through every
    gate's whole body: the work is counted with the bodies and refused past the limit."""
    vector = "[" + ",".join(["1"] * 200) + "]"
    refused(run_capped("eval", nested_gates(12, "g{n}(v)"), f"v={vector}", "--json"),
            "Jacobians", "gate bodies counted", kind="limit")
    # and a small one through gates equals the expanded graph's (no gates at all)
    small = nested_gates(3, "g{n}(v)", combine=SUM)  # 4·v², elementwise
    collapsed = run_capped("eval", small, "v=[1.5, -2]", "--json").json()
    expanded = run_capped("eval", small, "v=[1.5, -2]", "--json", "--expand").json()
    assert collapsed["gradients"] == expanded["gradients"]
    assert expanded["gradients"]["v"] == [[8 * 1.5, 0], [0, 8 * -2]]


def test_check_counts_its_passes_over_the_graph():
    """check runs the graph 4 times per input (x ± h, x ± 2h): a program near the node
    limit with many inputs would take hours, and is refused at once."""
    program = nested_gates(15, "+".join(f"g{{n}}(y{i})" for i in range(20)))
    refused(run_capped("check", program, *[f"y{i}=1" for i in range(20)], "--json"),
            "checking 20 input elements would compute", kind="limit")
    ran = run_capped("check", nested_gates(4, "g{n}(y)"), "y=0.9", "--json")
    assert ran.code == 0 and ran.json()["passed"] is True, ran


# -- B11: the element limit, from the shapes, before anything is allocated ------------------
def test_an_outer_product_past_the_element_limit_is_refused_before_it_is_computed():
    vector = "[" + ",".join(["1.5"] * 5000) + "]"  # 25,000,000 numbers in the product
    ran = refused(run_capped("eval", "sum(transpose([v]) @ [v])", f"v={vector}", "--json"),
                  "more than 10,000,000 numbers", "transpose([v]) @ [v]", kind="limit")
    assert "--max-elements" in ran.json()["error"]["hint"]
    within_bounds(ran, peak=200 << 20)  # refused before the 200 MB product exists


def test_many_operations_on_a_big_matrix_count_every_value(tmp_path):
    """A program of a few bytes over a 360,000-number matrix: each operation is a new
    matrix (12 of them), and the run is refused where their total passes the limit."""
    matrix = "[" + ",".join(["[" + ",".join(["0.5"] * 600) + "]"] * 600) + "]"
    bindings = write(tmp_path / "m.json", '{"M": %s}' % matrix)
    program = "sum(exp(M) * M + sin(M) * cos(M) - M / 2 + tanh(M) * M)"
    refused(run_capped("eval", program, "--bindings", bindings, "--json",
                       "--max-elements", "3000000"),
            "more than 3,000,000 numbers", kind="limit")
    ran = run_capped("eval", program, "--bindings", bindings, "--max-elements", "6000000")
    assert ran.code == 0, ran
    within_bounds(ran, seconds=60)


def test_every_array_op_knows_its_output_shape():
    """The oracle is numpy: each array op's shape function, on its sample's shapes, counts
    the elements its forward really gives (an index, whose shape depends on values, counts
    an upper bound); an elementwise op broadcasts exactly. Only the constants (arange,
    zeros, ...), whose shapes are values, have none: they keep their own size limit."""
    import numpy as np

    from gradcalc import elements, ops
    from gradcalc.arrays import ArrayArith

    rng = np.random.default_rng(0)
    xp = ArrayArith()
    for op in ops.OPS:
        if op.sample is None and op.vjp is None:
            args = (rng.normal(size=(2, 3)), rng.normal(size=3),
                    rng.normal(size=(2, 3)))[:op.arity or 2]
        elif op.sample is None:
            continue
        else:
            args = op.sample(rng)
        if op.domain is not None and op.domain(xp, *args) is not None:
            continue
        expected = np.shape(op.forward(xp, *args))
        counted = elements._op_shape(op, [np.shape(a) for a in args])
        if op.vjp is None:
            assert counted == expected, op.name
        elif op.name == "index":
            assert math.prod(counted) >= math.prod(expected), op.name
        elif op.shape is not None:
            assert math.prod(counted) == math.prod(expected), op.name
        else:
            assert op.forward.__module__ == "gradcalc.ops.constants", op.name


@pytest.mark.parametrize("source,shapes", [
    ("conv2d(x, w, b, stride=2, pad=1)", {"x": (2, 3, 7, 6), "w": (4, 3, 3, 2), "b": (4,)}),
    ("conv2d(x, w, b, stride=(1, 3))", {"x": (1, 2, 5, 9), "w": (3, 2, 2, 2), "b": (3,)}),
    ("max_pool2d(x, size=3, stride=1)", {"x": (2, 2, 5, 4)}),
    ("max_pool2d(x, size=(2, 1))", {"x": (1, 3, 6, 5)}),
    ("concatenate([x, w], axis=1)", {"x": (2, 3), "w": (2, 5)}),
    ("concatenate([x, w], axis=None)", {"x": (2, 3), "w": (4,)}),
    ("stack([x, w], axis=-1)", {"x": (2, 3), "w": (2, 3)}),
    ("logsumexp(x, axis=0, keepdims=True)", {"x": (2, 3)}),
    ("log_softmax(x, axis=0)", {"x": (4, 3)}),
])
def test_layer_and_joining_shapes_are_numpys(source, shapes):
    """Each shape function against numpy's own result at attributes off their defaults."""
    import numpy as np

    import gradcalc
    from gradcalc import elements

    values = {name: np.ones(shape) for name, shape in shapes.items()}
    graph = gradcalc.compile(source).graph
    counter = elements._Counter(graph, 10**9)
    assert counter.shapes(graph, shapes) == np.shape(gradcalc.evaluate(source, **values).value)


def test_a_convolution_too_big_for_the_limit_is_refused_before_it_is_computed(tmp_path):
    """x 1×1×100×100 and 50 filters 1×1: 20,050 numbers in, 500,000 out."""
    import numpy as np

    layer = tmp_path / "layer.npz"
    np.savez(layer, x=np.ones((1, 1, 100, 100)), w=np.ones((50, 1, 1, 1)), b=np.zeros(50))
    ran = refused(run_capped("eval", "sum(conv2d(x, w, b))", "--bindings", str(layer),
                             "--max-elements", "100000", "--json"),
                  "more than 100,000 numbers", kind="limit")
    within_bounds(ran, peak=200 << 20)


# -- B12: reads are capped before anything is checked ----------------------------------
@pytest.mark.parametrize("option", ["--bindings", "--answers"])
def test_an_endless_data_file_is_refused_at_its_cap(option):
    command = "check" if option == "--answers" else "eval"
    ran = refused(run_capped(command, "x", "x=1", option, "/dev/zero", "--json"),
                  "longer than 16,777,216 bytes", kind="limit")
    within_bounds(ran, peak=200 << 20)


@pytest.mark.parametrize("source", ["/dev/zero", "long-line"])
def test_an_endless_batch_line_is_refused_at_its_cap(tmp_path, source):
    if source == "long-line":
        path = tmp_path / "long.csv"
        path.write_text("x,y\n1,2\n3," + "4" * 30_000_000 + "\n")
        source = str(path)
    ran = refused(run_capped("batch", "x", "-i", source, "--input-format", "csv"),
                  "longer than 1,048,576 characters")
    within_bounds(ran, peak=200 << 20)


# -- B13: Graphviz is bounded by edges as well as nodes ------------------------------------
def test_a_dense_picture_is_refused_by_its_edges():
    """29 nodes that each use every one before them: 29 s of Graphviz's layout before."""
    lines = ["q1 = x", "q2 = 2*x"] + [
        f"q{i} = max({', '.join(f'q{j}' for j in range(1, i))})" for i in range(3, 29)]
    ran = refused(run_capped("graph", "; ".join(lines + ["q28"]), "x=1", "--format", "svg"),
                  "379 edges", "2 per node")
    assert "--max-nodes 190" in ran.stderr


# -- B14: a batch chunk of a huge graph is a few rows ------------------------------------------
def test_a_batch_of_a_huge_graph_takes_a_few_rows_at_a_time(tmp_path):
    from gradcalc.batching import chunk_size_for
    from gradcalc.lower import Graph

    assert chunk_size_for(Graph("", [None] * 950_000, 0, {})) == 4  # 256 before: 2.2 GB
    rows = write(tmp_path / "in.csv", "x\n" + "\n".join(map(str, range(30))) + "\n")
    program = "+".join(f"sin(x*{i})" for i in range(12_000))  # 48,000 nodes: 87 rows a chunk
    ran = run_capped("batch", "-", "-i", rows, stdin=program.encode())
    assert ran.code == 0 and len(ran.stdout.splitlines()) == 31, ran
    within_bounds(ran, seconds=60)


# -- C: output files go where they point, and nothing is left behind ----------------------
ROWS = "x\n1\n2\n"
EXPECTED = "x,value,grad_x\n1,2.0,2.0\n2,4.0,2.0\n"


def test_batch_output_follows_a_symbolic_link_and_keeps_the_file(tmp_path):
    rows = write(tmp_path / "in.csv", ROWS)
    target = tmp_path / "data" / "out.csv"
    target.parent.mkdir()
    target.write_text("old")
    target.chmod(0o640)
    link = tmp_path / "link.csv"
    link.symlink_to(target)
    ran = run_capped("batch", "2*x", "-i", rows, "-o", str(link))
    assert ran.code == 0, ran
    assert link.is_symlink() and target.read_text() == EXPECTED
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in target.parent.iterdir()) == ["out.csv"]


def test_batch_and_graph_write_a_fifo_directly(tmp_path):
    import os
    import threading

    rows = write(tmp_path / "in.csv", ROWS)
    fifo = tmp_path / "pipe"
    for command in (["batch", "2*x", "-i", rows, "--output-format", "csv"],
                    ["graph", "2*x", "x=1", "--format", "dot"]):
        os.mkfifo(fifo)
        got = []
        reader = threading.Thread(target=lambda: got.append(fifo.read_text()))
        reader.start()
        ran = run_capped(*command, "-o", str(fifo))
        reader.join(timeout=30)
        assert ran.code == 0, ran
        assert got and (got[0] == EXPECTED or got[0].startswith("digraph")), got
        assert fifo.is_fifo()  # still the FIFO, not a file put in its place
        fifo.unlink()


def test_a_device_is_written_not_replaced(tmp_path):
    import os
    import stat

    rows = write(tmp_path / "in.csv", ROWS)
    device = tmp_path / "null"
    try:
        os.mknod(device, 0o666 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    except (PermissionError, OSError):
        pytest.skip("creating a device node is not permitted here")
    for command in (["batch", "2*x", "-i", rows], ["graph", "x", "x=1", "--format", "dot"]):
        ran = run_capped(*command, "-o", str(device))
        assert ran.code == 0, ran
        assert stat.S_ISCHR(device.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "null"]


@pytest.mark.parametrize("command", [["graph", "x*y", "x=1", "y=2", "--format", "dot"],
                                     ["batch", "2*x", "-i", "IN", "--output-format", "csv"]])
def test_dev_stdout_is_gradcalc_s_own_output(tmp_path, command):
    """`-o /dev/stdout` into a pipe, and into a log opened for appending: the log keeps
    what it had (replacing the file /dev/stdout leads to would destroy it)."""
    command = [str(write(tmp_path / "in.csv", ROWS)) if a == "IN" else a for a in command]
    ran = run_capped(*command, "-o", "/dev/stdout")
    assert ran.code == 0 and ran.stdout.strip(), ran
    log = tmp_path / "log.txt"
    log.write_text("earlier lines\n")
    with open(log, "a") as appending:
        ran = run_capped(*command, "-o", "/dev/stdout", stdout=appending)
    assert ran.code == 0, ran
    assert log.read_text().startswith("earlier lines\n") and len(log.read_text()) > 20


@pytest.mark.parametrize("number", [signal.SIGTERM, signal.SIGHUP, signal.SIGXCPU])
def test_a_signal_mid_write_leaves_nothing_behind(tmp_path, number):
    rows = tmp_path / "in.csv"
    rows.write_text("x\n" + "\n".join(map(str, range(2_000_000))) + "\n")
    out = tmp_path / "out.csv"
    out.write_text("the old file\n")
    # small chunks: the run is still writing when the signal comes, on a fast machine too
    ran = run_capped("batch", "x*x", "-i", str(rows), "-o", str(out), "--chunk-size", "200",
                     signal_after=(1.5, number))
    assert ran.code == 128 + number, ran
    assert ran.stderr.startswith("gradcalc: "), ran
    assert "Traceback" not in ran.stderr
    assert out.read_text() == "the old file\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv", "out.csv"]


def test_a_signal_stops_graphviz_too(tmp_path):
    import shutil
    import subprocess

    if shutil.which("dot") is None:
        pytest.skip("Graphviz is not installed")
    lines = ["q1 = x", "q2 = 2*x"] + [
        f"q{i} = max({', '.join(f'q{j}' for j in range(1, i))})" for i in range(3, 29)]
    marker = str(tmp_path / "picture.svg")
    ran = run_capped("graph", "; ".join(lines + ["q28"]), "x=1", "--max-nodes", "200",
                     "-o", marker, signal_after=(3.0, signal.SIGTERM))
    assert ran.code == 128 + signal.SIGTERM, ran
    left = subprocess.run(["pgrep", "-f", "dot -Tsvg"], capture_output=True, text=True)
    assert not [pid for pid in left.stdout.split() if _child_of_init_running_dot(pid)]
    assert list(tmp_path.iterdir()) == []


def _child_of_init_running_dot(pid: str) -> bool:
    """An orphaned dot: its parent is gone (re-parented to init or a subreaper)."""
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            return stat_file.read().rsplit(")", 1)[1].split()[1] in ("1",)
    except OSError:
        return False


# -- D: strict JSON and the schemas ---------------------------------------------------------
BATCH_ROW = _validator("batch-row")


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_batch_never_copies_bare_nan_or_infinity(tmp_path, token):
    rows = write(tmp_path / "in.jsonl", '{"x": 1, "n": 2}\n{"x": 2, "n": %s}\n' % token)
    refused(run_capped("batch", "x", "-i", rows), "line 2", f"it has {token}")
    ran = run_capped("batch", "x", "-i", rows, "--on-error", "null")
    assert ran.code == 0, ran
    for line in ran.stdout.splitlines():
        BATCH_ROW.validate(json.loads(line, parse_constant=pytest.fail))


def test_a_column_named_like_a_gradient_is_refused(tmp_path):
    rows = write(tmp_path / "in.jsonl", '{"x": 1, "grad_y": "text"}\n')
    refused(run_capped("batch", "x", "-i", rows), "has a column grad_y")
    later = write(tmp_path / "later.jsonl", '{"x": 1}\n{"x": 2, "grad_q": "text"}\n')
    ran = run_capped("batch", "x", "-i", later, "--on-error", "skip")
    assert ran.code == 0 and "grad_q" in ran.stderr, ran
    for line in ran.stdout.splitlines():
        BATCH_ROW.validate(json.loads(line))
    # an input that is a variable of the program is a number, and may keep its name
    numbers = write(tmp_path / "numbers.jsonl", '{"x": 1, "grad_y": 5}\n')
    ran = run_capped("batch", "2*grad_y", "-i", numbers, "--keep", "inputs")
    assert ran.code == 0, ran
    for line in ran.stdout.splitlines():
        BATCH_ROW.validate(json.loads(line))


@pytest.mark.parametrize("value", ["[]", "[[]]", "[[], []]"])
def test_an_empty_vector_binding_is_refused_as_the_language_refuses_it(tmp_path, value):
    bindings = write(tmp_path / "b.json", '{"v": %s}' % value)
    refused(run_capped("eval", "sum(v)", "--bindings", bindings, "--json"),
            "the value of v is not usable: it is empty", kind="binding")


# -- E: control characters from data files reach no terminal -----------------------------
@pytest.mark.parametrize("name", ["\x1b]0;pwned\x07", "a\nb", "\x9b31m\u202e"])
def test_names_from_data_files_are_shown_escaped(tmp_path, name):
    csv = tmp_path / "in.csv"
    csv.write_text(f'x,"{name}"\n1,2\n', encoding="utf-8")
    jsonl = write(tmp_path / "in.jsonl", json.dumps({"x": 1, name: "t"}) + "\n")
    bindings = write(tmp_path / "b.json", json.dumps({name: 1, "x": 1}))
    for ran in (run_capped("batch", "x*z", "-i", str(csv)),
                run_capped("batch", "x*z", "-i", jsonl),
                run_capped("eval", "x", "--bindings", bindings)):
        assert ran.code == 2, ran
        assert not any(c in ran.stderr for c in "\x1b\x07\x9b\u202e"), ran
        assert len(ran.stderr.splitlines()) <= 4, ran  # message, caret, hint: no line break


# -- B10: --exact bounds the total work of a pass, not only each number -------------------
def test_a_long_exact_chain_is_bounded_in_all():
    """Each number within --max-digits (3,340 digits), but 60,000 of them: the pass is
    refused when their digits pass 50,000,000 in all, in seconds (273 s and 2 GB before
    for a chain of this kind)."""
    lines = ["b = 3^3500", "a0 = b + x"] + [f"a{i} = a{i - 1} * b / b"
                                                  for i in range(1, 30_000)]
    ran = run_capped("eval", "-", "x=1", "--exact", "--json",
                     stdin="; ".join(lines).encode())
    refused(ran, "more than 50,000,000 digits in all", kind="limit")
    within_bounds(ran, seconds=60)
    ran = run_capped("eval", "(1/3 + x)^3 * 2/7", "x=1/2", "--exact", "--json")
    assert ran.json()["value"] == "125/756", ran  # (5/6)^3 · 2/7 = 250/1512, by hand


def test_a_compiled_circuit_checks_the_element_limit_at_every_call():
    import numpy as np

    import gradcalc
    from gradcalc.errors import LimitError

    circuit = gradcalc.compile("sum(transpose([v]) @ [v])",
                               limits=gradcalc.Limits(elements=1000))
    assert circuit.forward(v=np.ones(10)) == 100  # 10 × 10 ones: 121 numbers in all
    with pytest.raises(LimitError, match="more than 1,000 numbers"):
        circuit.forward(v=np.ones(100))  # 10,000 in the product alone
