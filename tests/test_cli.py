"""`gradcalc eval` through Click's runner and through the installed executable."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import strict_json

LECTURE = ["eval", "(x+y)*z", "x=-2", "y=5", "z=-4"]


def test_table_shows_every_node_inputs_and_output(gradcalc_cli):
    ran = gradcalc_cli(*LECTURE)
    assert ran.code == 0, ran.stderr
    out = ran.stdout
    for text in ("x (input)", "y (input)", "z (input)", "x+y", "(x+y)*z (output)", "-12",
                 "∂f/∂node", "∂/∂x = 1", "∂/∂z = 3"):
        assert text in out, text
    assert "f = -12   ∂f/∂x = -4   ∂f/∂y = -4   ∂f/∂z = 3" in out


def test_json_document(gradcalc_cli):
    ran = gradcalc_cli(*LECTURE, "--json")
    assert ran.code == 0
    doc = ran.json()
    assert doc["schema"] == 1 and doc["expression"] == "(x+y)*z"
    assert doc["value"] == -12.0
    assert doc["gradients"] == {"x": -4.0, "y": -4.0, "z": 3.0}
    add = doc["nodes"][3]
    assert add == {"id": 3, "label": "x+y", "op": "add", "inputs": [0, 1], "value": 3.0,
                   "local": [1.0, 1.0], "grad": -4.0, "span": [0, 5]}
    x = doc["nodes"][0]
    assert x["op"] == "input" and x["span"] == [1, 2] and x["local"] == []
    assert doc["nodes"][doc["output"]]["label"] == "(x+y)*z"
    assert doc["warnings"] == []


@pytest.mark.parametrize("program,bindings,options", [
    ("(x+y)*max(z,w)", dict(x=-2, y=5, z=-4, w=1), {}),
    ("exp(x) + 1/3*x", dict(x=1000), {}),
    ("x/3 + max(x, 1)", dict(x=1), {"exact": True}),
    ("sum(W@v)", dict(W=[[1, 2], [3, 4]], v=[1, -1]), {}),
    ("+".join(f"x*{k} + relu(x-{k})" for k in range(2500)), dict(x=7), {"wrt": ["x"]}),
], ids=["lecture", "overflow", "exact", "matrix", "three chunks"])
def test_json_written_in_pieces_is_the_whole_document(program, bindings, options):
    """The CLI writes --json a few thousand nodes at a time: json.dumps of the whole
    document is the oracle, byte for byte."""
    import io

    from gradcalc import evaluate, render

    result = evaluate(program, **bindings, **options)
    assert len(result.graph.nodes) < 100 or len(result.graph.nodes) > 2 * render.JSON_CHUNK
    written = io.StringIO()
    result.write_json(written)
    assert written.getvalue() == json.dumps(result.to_dict(), ensure_ascii=False)
    strict_json(written.getvalue())


def test_json_nonfinite_numbers_are_strings(gradcalc_cli):
    ran = gradcalc_cli("eval", "exp(x)", "x=1000", "--json")
    doc = ran.json()
    assert ran.code == 0
    assert doc["value"] == "inf" and doc["gradients"]["x"] == "inf"
    assert any("overflow" in w["message"] for w in doc["warnings"])


def test_strict_turns_warnings_into_errors(gradcalc_cli):
    ran = gradcalc_cli("eval", "exp(x)", "x=1000", "--strict")
    assert ran.code == 2 and "--strict" in ran.stderr


def test_wrt_limits_the_gradients(gradcalc_cli):
    doc = gradcalc_cli(*LECTURE, "--json", "--wrt", "x,z").json()
    assert doc["gradients"] == {"x": -4.0, "z": 3.0}
    ran = gradcalc_cli(*LECTURE, "--wrt", "q")
    assert ran.code == 2 and "q" in ran.stderr and "the inputs are x, y, z" in ran.stderr


def test_ties_option(gradcalc_cli):
    split = gradcalc_cli("eval", "max(x,y)", "x=1", "y=1", "--json").json()
    first = gradcalc_cli("eval", "max(x,y)", "x=1", "y=1", "--json", "--ties", "first").json()
    assert split["gradients"] == {"x": 0.5, "y": 0.5}
    assert first["gradients"] == {"x": 1.0, "y": 0.0}
    assert "split evenly" in split["warnings"][0]["message"]
    assert split["warnings"][0]["node"] == 2


def test_constant_expression_bindings(gradcalc_cli):
    doc = gradcalc_cli("eval", "x*t", "x=1/3", "t=pi/4", "--json").json()
    assert doc["value"] == pytest.approx((1 / 3) * (3.141592653589793 / 4), rel=1e-15)


def test_bindings_file_and_command_line_wins(gradcalc_cli, tmp_path):
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"x": 10, "y": "2*3"}))
    doc = gradcalc_cli("eval", "x+y", "--bindings", str(path), "x=1", "--json").json()
    assert doc["value"] == 7.0


def test_expression_from_stdin_and_file(gradcalc_cli, tmp_path):
    program = "q = x + y  # the sum\nf = q * z\n"
    ran = gradcalc_cli("eval", "-", "x=-2", "y=5", "z=-4", "--json", input=program)
    assert ran.json()["value"] == -12.0
    path = tmp_path / "p.gc"
    path.write_text(program)
    assert gradcalc_cli("eval", f"@{path}", "x=-2", "y=5", "z=-4", "--json").json()["value"] == -12


def test_expression_starting_with_minus(gradcalc_cli):
    doc = gradcalc_cli("eval", "-x^2", "x=3", "--json").json()
    assert doc["value"] == -9.0 and doc["gradients"]["x"] == -6.0


def test_unused_binding_and_constant_override_warn(gradcalc_cli):
    ran = gradcalc_cli("eval", "x*e", "x=2", "e=3", "y=1", "--json")
    doc = ran.json()
    assert doc["value"] == 6.0
    messages = " ".join(w["message"] for w in doc["warnings"])
    assert "y=" in messages and "overrides the constant e" in messages


def test_markdown_format(gradcalc_cli):
    ran = gradcalc_cli(*LECTURE, "--format", "markdown")
    lines = ran.stdout.splitlines()
    assert lines[0].startswith("| # | node | op | value |")
    assert any("x+y" in line and "∂/∂x = 1<br>∂/∂y = 1" in line for line in lines)


def test_precision(gradcalc_cli):
    ran = gradcalc_cli("eval", "x/3", "x=1", "--precision", "3")
    assert "0.333" in ran.stdout and "0.3333" not in ran.stdout


# -- the catalogue of bad inputs: exit 2, one message with a caret, no traceback -----------
# One case per message, read as a new user would: what is wrong, where, how to fix it.
# Run through the entry point, as the console script runs it.
FILES = Path(__file__).parent / "files"  # arrays saved by numpy, and a misnamed text file

BAD = [
    # syntax
    (["eval", "(x+y", "x=1", "y=2"], "missing ')'"),
    (["eval", "2x", "x=1"], "did you mean 2*x?"),
    (["eval", "x+y*", "x=1", "y=1"], "ends too early"),
    (["eval", "x+1 = 3", "x=1"], "left side of '='"),
    (["eval", "x $ y", "x=1", "y=1"], "unexpected character '$'"),
    (["eval", "", "x=1"], "the expression is empty"),
    (["eval", "  # only a comment", "x=1"], "the expression is empty"),
    (["eval", "[]"], "an empty list has no shape"),
    (["eval", "v[]", "v=[1,2]"], "an index is missing"),
    # names
    (["eval", "x*y*w", "x=1"], "no value for the names y, w"),
    (["eval", "foo(x)", "x=1"], "unknown function 'foo'"),
    (["eval", "exq(x)", "x=1"], "did you mean `exp`?"),
    # notation from slides: each hint gives a fix that runs (tests/test_hints.py runs it)
    (["eval", "sin^2(x)", "x=1"], "write `sin(x)^2`"),
    (["eval", "exp x", "x=1"], "write `exp(x)`"),
    (["eval", "w^T x", "w=[1,2]", "x=[3,4]"], "write `transpose(w) @ x`"),
    (["eval", "|x|", "x=1"], "write `abs(x)`"),
    (["eval", "√x", "x=1"], "write `sqrt(x)`"),
    (["eval", "x*0,5", "x=1"], "write `0.5`"),
    (["eval", "sinh(x)", "x=1"], "gradcalc has no sinh"),
    (["eval", "sin*x", "x=1"], "'sin' is a function, not a value"),
    (["eval", "g(t) = t; g(x, x)", "x=1"], "your gate g(t)"),
    (["eval", "x(1+x)", "x=1"], "'x' is a value, not a function"),
    (["eval", "sig(t) = 1/(1+exp(-t))"], "only defines gates"),
    (["eval", "g(t) = g(t) + 1; g(x)", "x=1"], "calls itself"),
    (["eval", "g(t) = t + u; g(x)", "x=1"], "not among its parameters"),
    (["eval", "g(t) = t; h(g) = g; h(x)", "x=1"], "has the name of a gate"),
    (["eval", "g(t, t) = t; g(1)"], "two parameters named 't'"),
    (["eval", "exp(t) = t; exp(1)"], "a gate needs its own name"),
    (["eval", "g(t) = t; g = 2; g"], "'g' is a gate; it cannot also be a value"),
    (["eval", "g(t) = t; g + 1"], "call it as g(...)"),
    # arity
    (["eval", "exp(x, x)", "x=1"], "exp() takes 1 argument, but got 2"),
    (["eval", "g(t) = t; g(x, x)", "x=1"], "g() takes 1 argument, but got 2"),
    (["eval", "pow(x)", "x=1"], "pow() takes 2 arguments, but got 1"),
    (["eval", "softmax(S, keepdims=True)", "S=[1,2]"], "the keywords of softmax() are axis="),
    (["eval", "max(S, 0, axis=1)", "S=[1,2]"], "over an axis give one argument: max(S, axis=1)"),
    (["eval", "S.max(1)", "S=[[1,2]]"], "write max(S, axis=1) for the axis, or max(S, 1) for"),
    (["eval", "np.sum(S - 1, -1)", "S=[[1,2]]"], "write sum(S - 1, axis=-1) for the axis"),
    # bindings
    (["eval", "x", "x=abc"], "in the binding x=abc"),
    (["eval", "x", "x="], "has no value"),
    (["eval", "x", "1x=2"], "not a valid name"),
    (["eval", "x", "y"], "'y' is not a binding"),
    (["eval", "x", "x:2"], "write `x=2`"),
    (["eval", "x", "x=1", "x=2"], "x is bound twice: x=1 and x=2"),
    (["eval", "x=1"], "there is no expression"),
    (["eval", "x", "x=[[1,2],[3]]"], "ragged"),
    # domain
    (["eval", "x", "x=1/0"], "division by zero"),
    (["eval", "log(x)", "x=-1"], "log is defined only for positive numbers"),
    (["eval", "sqrt(x)", "x=-2"], "sqrt is defined only for numbers ≥ 0"),
    (["eval", "1/(x-1)", "x=1"], "division by zero"),
    (["eval", "x^0.5", "x=-8"], "negative base to a non-integer power"),
    (["eval", "0^x", "x=-1"], "0 to a negative power"),
    (["eval", "max(x)", "x=1"], "for two numbers write max(a, b)"),
    (["eval", "v[5]", "v=[1,2]"], "index 5 is out of range for axis 0 of length 2"),
    (["eval", "x @ y", "x=1", "y=2"], "use * for a scalar"),
    (["eval", "sum(S, axis=2)", "S=[[1,2],[3,4]]"],
     "axis 2 is out of range for a value with 2 dimensions (shape 2×2)"),
    (["eval", "max(S, axis=(1, -1))", "S=[[1,2],[3,4]]"], "names an axis twice"),
    (["eval", "mean(S, axis=0.5)", "S=[[1,2],[3,4]]"], "an axis is a whole number"),
    (["eval", "softmax(x)", "x=2"], "softmax normalizes along an axis of a vector or matrix"),
    (["eval", "cross_entropy(S, y)", "S=[[1,2,3],[4,5,6]]", "y=[0, 3]"],
     "label 3 is out of range for 3 classes"),
    (["eval", "cross_entropy(S, y)", "S=[[1,2,3],[4,5,6]]", "y=[0.5, 1]"],
     "a label is a class index, a whole number, and 0.5 is not"),
    (["eval", "cross_entropy(S, y)", "S=[[1,2,3],[4,5,6]]", "y=[1]"],
     "cross_entropy needs 2 labels, one per row of the 2×3 scores"),
    (["eval", "cross_entropy(S, Y)", "S=[[1,2],[4,5]]", "Y=[[0,1],[1,0]]"],
     "write -mean(sum(Y * log_softmax(S), axis=1))"),
    (["eval", "sum(" + "[" * 33 + "x" + "]" * 33 + ")", "x=1"], "at most 32 dimensions"),
    # shapes
    (["eval", "v + w", "v=[1,2]", "w=[1,2,3]"], "the shapes 2 and 3 do not fit together"),
    # pow's domain check is the first to combine the two shapes
    (["eval", "v ^ w", "v=[1,2]", "w=[1,2,3]"], "the shapes 2 and 3 do not fit together"),
    (["eval", "W@v", "W=[[1,2],[3,4]]", "v=[1,2,3]"], "columns of a to equal the rows of b"),
    # shapes and constants
    (["eval", "reshape(x, (4, -1))", "x=[[1,2,3],[4,5,6]]"],
     "cannot reshape a value of shape 2×3 (6 elements) into shape (4, -1)"),
    (["eval", "x.reshape(4, 2)", "x=[1,2,3,4,5,6]"], "into shape (4, 2): it holds 8"),
    (["eval", "transpose(x, axes=(0, 0))", "x=[[1,2],[3,4]]"], "name axis 0 twice"),
    (["eval", "concatenate([x, y], axis=1)", "x=[[1,2]]", "y=[[1],[2]]"],
     "shapes 1×2 and 2×1 differ on axis 0"),
    (["eval", "concatenate([x, x], axis=2)", "x=[[1,2]]"],
     "axis 2 is out of range for a value with 2 dimensions"),
    (["eval", "concatenate(x)", "x=[[1,2]]"], "takes one list of arrays"),
    (["eval", "stack([x, y])", "x=[1,2]", "y=[1,2,3]"], "stack needs values of one shape"),
    (["eval", "a @ b", "a=[[[1]],[[1]]]", "b=[[[1]],[[1]],[[1]]]"], "batch sizes 2 and 3"),
    (["eval", "one_hot(y, 3)", "y=[0,3]"], "label 3 is out of range for 3 classes"),
    (["eval", "zeros((100000, 100000))"], "more than the 10,000,000"),
    # layers: images N×C×H×W, filters F×C×HH×WW, one bias per filter, strides ≥ 1
    (["eval", "sum(conv2d(x, w, b))", "x=[[[1,2],[3,4]]]", "w=[[[[1]]]]", "b=[0]"],
     "for a single image (C×H×W) add the batch axis: [None]"),
    (["eval", "sum(conv2d(x, w, b))", "x=[[[[1,2],[3,4]]]]", "w=[[[[1]],[[1]]]]", "b=[0]"],
     "w is 1×2×1×1, filters over 2 channels, but x is 1×1×2×2, images of 1 channel"),
    (["eval", "sum(conv2d(x, w, b))", "x=[[[[1,2],[3,4]]]]", "w=[[[[1]]]]", "b=[0,1]"],
     "b must hold one bias per filter (shape 1, since w is 1×1×1×1), and b is 2"),
    (["eval", "sum(conv2d(x, w, b, stride=0))", "x=[[[[1,2],[3,4]]]]", "w=[[[[1]]]]",
      "b=[0]"], "stride=0: the stride must be a whole number ≥ 1"),
    (["eval", "sum(max_pool2d(x, size=3))", "x=[[[[1,2],[3,4]]]]"],
     "the pooling window 3×3 is larger than the input's 2×2 (use a smaller size=)"),
    # limits: each names the option that raises it
    (["eval", "x+1", "x=1", "--max-source", "2"], "--max-source"),
    (["eval", "-(-x)", "x=1", "--max-depth", "2"], "--max-depth"),
    (["eval", "x*y+x", "x=1", "y=1", "--max-nodes", "3"], "--max-nodes"),
    (["eval", "2^10^10", "--exact"], "--max-digits"),
    (["eval", "x", "x=1e999999", "--exact"], "--max-digits"),
    (["eval", "@/dev/zero", "x=1"], "--max-source"),
    (["eval", "v*2", "v=[" + ",".join(["1"] * 3200) + "]"], "give --upstream"),
    # --strict
    (["eval", "exp(x)", "x=1000", "--strict"], "(an error under --strict)"),
    (["eval", "max(x,y)", "x=1", "y=1", "--strict"], "tie"),
    # usage: options, commands, files
    (["eval", "x", "x=1", "--precision", "0"], "invalid value for '--precision'"),
    (["eval", "x", "x=1", "--ties", "last"], "'last' is not one of 'split', 'first'"),
    (["eval", "x", "x=1", "--jsno"], "no such option: --jsno"),
    (["eval"], "missing argument 'EXPR'"),
    (["evl", "x"], "no such command 'evl'"),
    (["eval", "x", "x=1", "--wrt", "q"], "the inputs are x"),
    (["eval", "x*2", "x=[1,2]", "--upstream", "[1,2,3]"], "the output has shape 2"),
    (["eval", "x", "x=1", "--upstream", "q"], "--upstream"),
    (["eval", "x*2", "x=[1,2]", "--exact"], "--exact works on scalars only"),
    (["eval", "@/nonexistent/file", "x=1"], "cannot read /nonexistent/file: there is no such file"),
    (["eval", "@/", "x=1"], "/ is a directory, not a file"),
    (["eval", "x", "--bindings", "/nonexistent.json"], "cannot read the bindings file"),
    (["eval", "x", "--bindings", "/"], "the bindings file / is a directory"),
    # arrays from files
    (["eval", "x", "x=@/nonexistent/W.npy"], "cannot read /nonexistent/W.npy: there is no such"),
    (["eval", "x", f"x=@{FILES}/not-really.npy"], "is not an .npy file: it looks like text"),
    (["eval", "W@v", "--bindings", f"{FILES}/params.npz"], "params.npz binds W, b; bind v=..."),
    (["eval", "x", "x=1", "-o", "g.csv"], "cannot tell what to write to g.csv"),
    (["eval", "x", "x=\udcff"], "argument 3 ('x=\ufffd') is not UTF-8 text"),
    (["check", "x", "x=[1,2]"], "check needs a scalar output (a loss)"),
    (["check", "x", "x=1", "--expect", "q=1"], "the answer 'q' names nothing"),
    (["check", "x", "x=1", "--expect", "x"], "expected NAME=VALUE"),
    (["check", "x", "x=1", "--step", "inf"], "--step must be a finite number"),
    (["graph", "x", "x=1", "-o", "picture.jpg"], "cannot tell the picture format"),
    (["graph", "+".join(["x"] * 200), "x=1"], "pass --max-nodes 200 to draw it anyway"),
]


@pytest.mark.parametrize("args,message", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_input_catalogue(gradcalc_main, args, message):
    ran = gradcalc_main(*args)
    assert ran.code == 2, (ran.stdout, ran.stderr)
    assert message in ran.stderr, ran.stderr
    assert "Traceback" not in ran.stderr + ran.stdout
    lines = ran.stderr.splitlines()
    assert lines[0].startswith("error: ")  # one message: the error, its caret, a hint
    assert all(line.startswith(("error: ", "  | ", "hint: ")) or line[:1].isdigit()
               for line in lines), lines
    assert sum(line.startswith("error: ") for line in lines) == 1


def test_every_kind_of_error_is_in_the_catalogue(gradcalc_main):
    from gradcalc import errors

    kinds = {cls.kind for cls in vars(errors).values()
             if isinstance(cls, type) and issubclass(cls, errors.GradcalcError)} - {"error"}
    seen = {gradcalc_main(*args, "--json").json()["error"]["kind"]
            for args, _ in BAD if args[0] != "graph"}
    # the failures that are not the input's: memory, Ctrl-C, a bug (tests/test_hostile.py)
    assert seen | {"memory", "interrupted", "internal"} == kinds


@pytest.mark.parametrize("args,message", [case for case in BAD if case[0][0] != "graph"],
                         ids=[" ".join(a)[:60] for a, _ in BAD if a[0] != "graph"])
def test_bad_input_under_json_is_a_json_error_object(gradcalc_main, args, message):
    ran = gradcalc_main(*args, "--json")
    assert ran.code == 2
    error = ran.json()["error"]
    assert message in error["message"] + error.get("hint", "")
    assert error["kind"] in {"syntax", "name", "arity", "binding", "domain", "shape", "limit",
                             "usage", "strict"}
    assert error["message"] in ran.stderr  # the same message on stderr


def test_caret_sits_under_the_culprit(gradcalc_cli):
    ran = gradcalc_cli("eval", "x + log(y - 3)", "x=1", "y=1")
    lines = ran.stderr.splitlines()
    source = next(i for i, line in enumerate(lines) if "x + log(y - 3)" in line)
    caret = lines[source + 1]
    start = caret.index("^")
    assert lines[source][start:start + caret.count("^")] == "y - 3"


# -- the installed executable ------------------------------------------------------------
@pytest.fixture
def exe():
    # The script installed with this interpreter first: another gradcalc may come earlier
    # on PATH (an installation from another checkout).
    beside = Path(sys.executable).with_name("gradcalc")
    path = str(beside) if beside.exists() else shutil.which("gradcalc")
    if path is None:
        pytest.fail("the gradcalc console script is not installed")
    return path


def test_console_script_json(exe):
    done = subprocess.run([exe, *LECTURE, "--json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert strict_json(done.stdout)["gradients"] == {"x": -4.0, "y": -4.0, "z": 3.0}


def test_console_script_error_has_no_traceback(exe):
    done = subprocess.run([exe, "eval", "log(x)", "x=-1"], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.startswith("error: log is defined only for positive numbers")
    assert "Traceback" not in done.stderr and done.stdout == ""


def test_python_dash_m_and_version():
    done = subprocess.run([sys.executable, "-m", "gradcalc", "--version"],
                          capture_output=True, text=True)
    assert done.returncode == 0
    import gradcalc
    assert done.stdout.strip() == f"gradcalc {gradcalc.__version__}"


def test_usage_error_under_json_is_json(exe):
    done = subprocess.run([exe, "eval", "x", "x=1", "--json", "--precision", "x"],
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert strict_json(done.stdout)["error"]["kind"] == "usage"


@pytest.mark.parametrize("command", ["eval", "check", "graph"])
def test_expression_starting_with_minus_and_a_short_option_letter(gradcalc_cli, command):
    # '-tanh(x)' holds the letters of -h; '-cos(x)' those of graph's -o
    for expr in ("-tanh(x)", "-cos(x)"):
        ran = gradcalc_cli(command, expr, "x=1")
        assert ran.code == 0, (command, expr, ran.stdout, ran.stderr)
        assert "Usage:" not in ran.stdout
