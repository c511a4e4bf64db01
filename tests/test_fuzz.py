"""Fuzzing: whatever text or bytes arrive, every command ends with a result or one clear
error, within a time bound, and its JSON is strict and matches the published schema.

Hypothesis generates random text, random bytes (as a file and as standard input) and
random *valid* programs: gates, assignments, every built-in function and operator,
vectors and matrices, fed to eval (with its options), check and graph. The entry point is
run in-process with GRADCALC_DEBUG set, so a bug shows its traceback here instead of the
one-line "internal error" a user would see.

The suite runs a few hundred examples. The long run, outside the suite's time:

    GRADCALC_FUZZ=long python -m pytest tests/test_fuzz.py

(10,000 examples per test; GRADCALC_FUZZ_EXAMPLES=N for another number). Inputs it found
that once failed are kept below as regression cases.
"""
import functools
import json
import os
import tempfile
import time
from importlib import resources

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradcalc import ops

from conftest import run_main, strict_json

LONG = os.environ.get("GRADCALC_FUZZ") == "long"
EXAMPLES = int(os.environ.get("GRADCALC_FUZZ_EXAMPLES", 10_000 if LONG else 0)) or None
TIME_BOUND = 10  # seconds for one command on one input, on a loaded machine


def fuzz_settings(examples: int):
    return settings(max_examples=EXAMPLES or examples, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


def _schema(name):
    text = resources.files("gradcalc").joinpath("schemas", f"{name}.schema.json").read_text(
        encoding="utf-8")
    return jsonschema.Draft202012Validator(json.loads(text))


SCHEMAS = {name: _schema(name) for name in ("eval", "check", "error")}


def gradcalc(*args, stdin: bytes = b""):
    """`gradcalc ARGS` in-process through the real entry point; an unexpected exception
    propagates with its traceback (GRADCALC_DEBUG) instead of becoming exit code 70."""
    start = time.monotonic()
    ran = run_main(*args, stdin=stdin, env={"GRADCALC_DEBUG": "1"})
    ran.args, ran.seconds = args, time.monotonic() - start
    return ran


def assert_clean(ran, codes=(0, 2)) -> None:
    """The contract: an allowed exit code, one message on error, warnings only on
    success, strict JSON that matches its schema, and no more than the time bound."""
    context = (ran.args, ran.code, ran.stderr[-2000:])
    assert ran.code in codes, context
    assert ran.seconds < TIME_BOUND, context
    assert "Traceback" not in ran.stderr + ran.stdout, context
    lines = ran.stderr.splitlines()
    if ran.code == 2:
        assert lines and lines[0].startswith("error: "), context
        assert sum(line.startswith("error:") for line in lines) == 1, context
    else:
        assert all(line.startswith("warning: ") for line in lines), context
    if "--json" in ran.args and ran.stdout:
        document = strict_json(ran.stdout)
        name = "error" if "error" in document else ran.args[0]
        SCHEMAS[name].validate(document)


# -- random text and bytes ------------------------------------------------------------------
LANGUAGE = list("xyzvwM0123456789.eE+-*/^@()[],;=#\n\t _σ") + [
    "**", "exp", "log", "max", "sum", "pi", "1e999", "sig(t)=", "g(a,b)=", "[[", "]]"]
text = st.lists(st.sampled_from(LANGUAGE) | st.characters(), max_size=40).map("".join)
BINDINGS = ["x=1.5", "y=-2", "z=0.5", "v=[1,-2,3]", "M=[[1,2,3],[4,5,6]]"]


@fuzz_settings(300)
@given(source=text, options=st.sampled_from([[], ["--json"], ["--exact", "--json"],
                                             ["--steps"], ["--expand", "--format", "markdown"]]))
def test_random_text(source, options):
    assert_clean(gradcalc("eval", source, *BINDINGS, *options))


@fuzz_settings(100)
@given(source=text)
def test_random_text_in_check_and_graph(source):
    assert_clean(gradcalc("check", source, "x=1.5", "y=-2", "z=0.5", "--json"), codes=(0, 1, 2))
    assert_clean(gradcalc("graph", source, *BINDINGS))


@fuzz_settings(100)
@given(data=st.binary(max_size=200) | text.map(lambda t: t.encode("utf-8", "surrogatepass")),
       where=st.sampled_from(["stdin", "file"]))
def test_random_bytes_as_a_program(data, where):
    if where == "stdin":
        assert_clean(gradcalc("eval", "-", *BINDINGS, "--json", stdin=data))
        return
    with tempfile.NamedTemporaryFile(suffix=".gc") as handle:
        handle.write(data)
        handle.flush()
        assert_clean(gradcalc("eval", f"@{handle.name}", *BINDINGS, "--json"))


@fuzz_settings(100)
@given(name=st.sampled_from(["x", "y", "t", "1x", "x y", "", "pi"]), value=text,
       more=st.lists(text, max_size=2))
def test_random_bindings_and_arguments(name, value, more):
    assert_clean(gradcalc("eval", "x*y + t", f"{name}={value}", "y=2", "t=1", *more))
    assert_clean(gradcalc("eval", "x*y", "x=1", "y=2", "--upstream", value, "--json"))


# -- random valid programs --------------------------------------------------------------------
SCALAR_FUNCTIONS = ["exp", "log", "ln", "sqrt", "abs", "sin", "cos", "tan", "tanh", "sigmoid",
                    "relu", "softplus", "log10", "log2", "sign", "σ"]
BINARY_OPERATORS = ["+", "-", "*", "/", "^", "**"]
COMPARISONS = ["<", "<=", ">", ">=", "==", "!="]
NUMBERS = ["0", "1", "2", "3", "0.5", ".5", "2.5", "1e-3", "1e3", "0.1", "1e308", "pi", "e"]


def _call(name, *args):
    return f"{name}({', '.join(args)})"


# {} is a 2×2 matrix: each template ends in a scalar
AXIS_REDUCTIONS = ["sum({}, axis=0)[1]", "mean({}, axis=-1)[0]", "norm({}, axis=1)[1]",
                   "max({}, axis=1, keepdims=True)[0, 0]", "min({}, axis=(0, 1))",
                   "max({}, axis=0)[0]"]
# {} is a vector of 3
SOFTMAX_FAMILY = ["sum(softmax({}) * [1, 2, 3])", "log_softmax({}, axis=0)[1]",
                  "logsumexp({})", "logsumexp([{0}, {0}], axis=1, keepdims=True)[1, 0]",
                  "cross_entropy([{0}, {0}], [2, 0])", "cross_entropy({}, 1)"]
# conv2d's filter (from the expression's first three parts) and keywords; max_pool2d's
# keywords, some of them not allowed (an error, exit 2)
CONV_OPTIONS = [("[[[[{2}]]]]", ""), ("[[[[{0}, {1}], [{2}, 1]]]]", ", pad=1"),
                ("[[[[{1}]]]]", ", stride=2, pad=(1, 0)"), ("[[[[{0}]]]]", ", stride=0")]
POOL_OPTIONS = ["", ", size=1", ", size=(1, 2), stride=1", ", size=3", ", stride=-1"]


@functools.lru_cache(maxsize=None)  # one strategy per set of names: building it is slow
def scalar_expressions(names: tuple):
    """Expressions over scalar names; array built-ins appear inside, reduced to scalars."""
    leaves = st.sampled_from(names) | st.sampled_from(NUMBERS)

    def extend(inner):
        two = st.tuples(inner, inner)
        three = st.tuples(inner, inner, inner)
        return st.one_of(
            st.tuples(st.sampled_from(["-", "+"]), inner).map(lambda t: f"{t[0]}{t[1]}"),
            st.tuples(inner, st.sampled_from(BINARY_OPERATORS), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            st.tuples(st.sampled_from(SCALAR_FUNCTIONS), inner).map(lambda t: _call(*t)),
            two.map(lambda t: _call("pow", *t)),
            # masks: a comparison gives 1 or 0, where() picks a branch, detach() cuts
            st.tuples(inner, st.sampled_from(COMPARISONS), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"),
            three.map(lambda t: f"where({t[0]} > {t[1]}, {t[1]}, {t[2]})"),
            inner.map(lambda t: _call("detach", t)),
            st.tuples(st.sampled_from(["max", "min", "maximum", "minimum"]),
                      st.lists(inner, min_size=2, max_size=3))
            .map(lambda t: _call(t[0], *t[1])),
            # array built-ins, each ending in a scalar
            three.map(lambda t: f"sum([{t[0]}, {t[1]}, {t[2]}])"),
            three.map(lambda t: f"mean([{t[0]}, {t[1]}, {t[2]}])"),
            two.map(lambda t: f"norm([{t[0]}, {t[1]}])"),
            st.tuples(st.sampled_from(["max", "min"]), three).map(
                lambda t: f"{t[0]}([{t[1][0]}, {t[1][1]}, {t[1][2]}])"),
            st.tuples(two, two).map(lambda t: f"dot([{t[0][0]}, {t[0][1]}], [{t[1][0]}, "
                                              f"{t[1][1]}])"),
            st.tuples(three, st.sampled_from(["0", "1", "-1", "2"])).map(
                lambda t: f"[{t[0][0]}, {t[0][1]}, {t[0][2]}][{t[1]}]"),
            st.tuples(two, two).map(lambda t: f"([{t[0][0]}, {t[0][1]}] @ [[{t[1][0]}], "
                                              f"[{t[1][1]}]])[0]"),
            st.tuples(two, st.sampled_from(["0, 1", "1, 0"])).map(
                lambda t: f"transpose([[{t[0][0]}, {t[0][1]}]])[{t[1]}]"),
            # shapes and constants, each ending in a scalar
            st.tuples(three, st.sampled_from(["(2, -1)", "(-1, 3)", "2, 3", "(4, -1)"])).map(
                lambda t: f"sum(reshape([{t[0][0]}, {t[0][1]}, {t[0][2]}, {t[0][0]}, 1, 2], "
                          f"{t[1]}) @ arange(3))"),
            st.tuples(two, st.sampled_from(["", ", axes=(2, 0, 1)", ", (1, 0, 2)"])).map(
                lambda t: f"sum(transpose([[[{t[0][0]}, {t[0][1]}]]]{t[1]})[0] * 2)"),
            st.tuples(three, st.sampled_from(["0", "1", "-1", "None", "2"])).map(
                lambda t: f"sum(concatenate([[[{t[0][0]}], [{t[0][1]}]], [[{t[0][2]}], [1]]], "
                          f"axis={t[1]}) * [[1, 2], [3, 4]])"),
            st.tuples(two, st.sampled_from(["0", "1", "-1", "3"])).map(
                lambda t: f"sum(stack([[{t[0][0]}, 1], [{t[0][1]}, 2]], axis={t[1]}) @ "
                          "ones(2))"),
            st.tuples(three, st.sampled_from(["2", "3"])).map(
                lambda t: f"sum(matmul([[[{t[0][0]}, {t[0][1]}]], [[{t[0][2]}, 1]]], "
                          f"ones(({t[1]}, 1))))"),
            st.tuples(inner, st.sampled_from(["2", "2, 3", "-1", "2.5"])).map(
                lambda t: f"sum(eye({t[1]}) * {t[0]}) + sum(zeros(({t[1]},)))"),
            st.tuples(inner, st.sampled_from(["[0, 2]", "[1]", "[3]", "[0.5]"])).map(
                lambda t: f"sum(one_hot({t[1]}, 3) * {t[0]})"),
            # reductions over an axis, and the softmax family
            st.tuples(st.sampled_from(AXIS_REDUCTIONS), three).map(
                lambda t: t[0].format(f"[[{t[1][0]}, {t[1][1]}], [{t[1][2]}, {t[1][0]}]]")),
            st.tuples(st.sampled_from(SOFTMAX_FAMILY), three).map(
                lambda t: t[0].format(f"[{t[1][0]}, {t[1][1]}, {t[1][2]}]")),
            # layers on one image of one channel, 2×2, with a 1×1 or 2×2 filter
            st.tuples(three, st.sampled_from(CONV_OPTIONS)).map(
                lambda t: f"sum(conv2d([[[[{t[0][0]}, {t[0][1]}], [{t[0][2]}, {t[0][0]}]]]], "
                          f"{t[1][0].format(*t[0])}, [{t[0][1]}]{t[1][1]}))"),
            st.tuples(three, st.sampled_from(POOL_OPTIONS)).map(
                lambda t: f"sum(max_pool2d([[[[{t[0][0]}, {t[0][1]}], [{t[0][2]}, "
                          f"{t[0][1]}]]]]{t[1]}))"),
        )
    return st.recursive(leaves, extend, max_leaves=8)


ARRAY_OUTPUTS = [
    "W @ v + b", "relu(W @ v) * 2", "transpose(W) @ [1, 2]", "v * v - v / 2",
    "max(v, v * 0.5)", "exp(-v)", "[sum(v), mean(v), norm(v)]", "W[1, 2] * v",
    "sigmoid(W @ v)[0]", "dot(v, v)", "max(W)", "min(v)",
    "reshape(W, (3, -1)) @ b", "concatenate([W, W.T @ W], axis=0)", "stack([v, v * 2], axis=1)",
    "W.T[None] @ stack([b, b * x])[:, :, None]",
    "softmax(W, axis=0)",
    "max(W, axis=1)", "log_softmax(W) - logsumexp(W, axis=1, keepdims=True)",
    "cross_entropy(W, [2, 0]) * v", "sum(W, axis=0) + mean(W, axis=0, keepdims=True)",
]


@st.composite
def programs(draw):
    """A program of gates, assignments and a last expression, with its free names."""
    inputs = ["x", "y", "z"]
    statements, gates = [], []
    for k in range(draw(st.integers(0, 2))):
        params = ["a", "b"][:draw(st.integers(1, 2))]
        body = draw(scalar_expressions(tuple(params)))
        calls = [f"{g}({', '.join(['a'] * arity)})" for g, arity in gates]
        if calls and draw(st.booleans()):
            body = f"{body} + {draw(st.sampled_from(calls))}"
        statements.append(f"g{k}({', '.join(params)}) = {body}")
        gates.append((f"g{k}", len(params)))
    names = list(inputs)
    for k in range(draw(st.integers(0, 3))):
        value = draw(scalar_expressions(tuple(names)))
        if gates and draw(st.booleans()):
            gate, arity = draw(st.sampled_from(gates))
            value = f"{gate}({', '.join([value] + names[:arity - 1])})"
        name = draw(st.sampled_from([f"q{k}", "x", "c"]))
        statements.append(f"{name} = {value}")
        names.append(name)
    if draw(st.integers(0, 9)) == 0:
        statements.append(draw(st.sampled_from(ARRAY_OUTPUTS)))
    else:
        statements.append(draw(scalar_expressions(tuple(names))))
    separator = draw(st.sampled_from(["; ", "\n", "  # a comment\n"]))
    return separator.join(statements)


values = st.sampled_from(["-2", "-0.5", "0", "0.5", "1", "3", "1/3", "pi/4", "1e300", "-1e-300"])
EVAL_OPTIONS = st.sampled_from([[], ["--json"], ["--exact", "--json"], ["--steps"],
                                ["--expand", "--json"], ["--ties", "first", "--json"],
                                ["--strict"], ["--format", "markdown", "--steps"],
                                ["--upstream", "-1/2", "--json"], ["--wrt", "x", "--json"]])


@fuzz_settings(200)
@given(program=programs(), x=values, y=values, z=values, options=EVAL_OPTIONS)
def test_random_valid_programs(program, x, y, z, options):
    bindings = [f"x={x}", f"y={y}", f"z={z}", "v=[1, -2, 3]", "W=[[1, 2, 3], [-1, 0, 2]]",
                "b=[0.5, -0.5]"]
    assert_clean(gradcalc("eval", program, *bindings, *options))


@fuzz_settings(150)
@given(program=programs(), x=values, y=values, z=values,
       kind=st.sampled_from(["check", "dot", "mermaid"]))
def test_random_valid_programs_in_check_and_graph(program, x, y, z, kind):
    bindings = [f"x={x}", f"y={y}", f"z={z}", "v=[1, -2, 3]", "W=[[1, 2, 3], [-1, 0, 2]]",
                "b=[0.5, -0.5]"]
    if kind == "check":
        assert_clean(gradcalc("check", program, *bindings, "--json"), codes=(0, 1, 2))
    else:
        assert_clean(gradcalc("graph", program, *bindings, "--format", kind))


def test_the_programs_use_every_built_in():
    """The strategy above writes every function and operator of the op table, so a new
    built-in must be added to the fuzzing (this fails until it is)."""
    written = set(SCALAR_FUNCTIONS) | {"pow", "max", "min", "sum", "mean", "norm", "dot",
                                       "transpose", "where", "detach", "maximum", "minimum", "reshape",
                                       "concatenate", "stack", "matmul", "arange", "zeros",
                                       "ones", "eye", "one_hot", "softmax",
                                       "log_softmax", "logsumexp", "cross_entropy", "conv2d",
                                       "max_pool2d"}
    assert written == set(ops.FUNCTIONS)
    assert set(ops.BINARY) <= set(BINARY_OPERATORS) | set(COMPARISONS) | {"@"}
    reached = {ops.FUNCTIONS[name].name for name in written} | \
        {ops.BINARY[symbol].name for symbol in ops.BINARY} | \
        {ops.NEGATE.name, ops.INDEX.name, ops.ARRAY.name} | \
        {op.name for op in ops.REDUCERS.values()}  # -a, v[i], [a, b], max(v)
    assert reached == {op.name for op in ops.OPS}


# -- hostile JSON: bindings, answers and JSON Lines rows -------------------------------------
def _json_text(value) -> str:
    return json.dumps(value, ensure_ascii=False)


json_leaves = (st.integers(min_value=-10**6, max_value=10**6) | st.floats() |
               st.sampled_from(["1/3", "pi/4", "x", "", "\x1b[2J", "[1, 2]"]) | st.booleans() |
               st.none()).map(_json_text)
# Text that JSON parsers meet in the wild: deep nesting, integers past any float or past
# Python's int parser, NaN and Infinity, lone and paired surrogate escapes, raw garbage.
hostile_json = st.one_of(
    st.integers(1, 5000).map(lambda depth: "[" * depth + "1" + "]" * depth),
    st.integers(300, 6000).map(lambda digits: "9" * digits),
    st.sampled_from(["NaN", "Infinity", "-Infinity", '"\\ud800"', '"\\udfff\\ud800"',
                     '"\\ud83d\\ude00"', "1e999", "-0", "[]", "[[]]", "{}", '"\\u0000"']),
    json_leaves,
    st.recursive(json_leaves, lambda inner: st.lists(inner, max_size=4).map(
        lambda items: "[" + ", ".join(items) + "]"), max_leaves=12),
    text,
)
json_keys = st.sampled_from(["x", "y", "value", "grad_x", "grad_q", "x\x1b]0;t\x07", "1x", ""])


@st.composite
def json_objects(draw) -> str:
    pairs = draw(st.lists(st.tuples(json_keys, hostile_json), min_size=1, max_size=4))
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in pairs) + "}"


@fuzz_settings(150)
@given(document=json_objects() | hostile_json, where=st.sampled_from(["bindings", "answers"]))
def test_hostile_json_in_bindings_and_answers(document, where):
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8",
                                     errors="surrogatepass") as handle:
        handle.write(document)
        handle.flush()
        if where == "bindings":
            assert_clean(gradcalc("eval", "x*y", "y=2", "--bindings", handle.name, "--json"))
        else:
            assert_clean(gradcalc("check", "x*y", "x=1", "y=2", "--answers", handle.name,
                                  "--json"), codes=(0, 1, 2))


@fuzz_settings(60)
@given(rows=st.lists(json_objects() | hostile_json, min_size=1, max_size=4),
       on_error=st.sampled_from(["stop", "skip", "null"]),
       output=st.sampled_from(["jsonl", "csv"]))
def test_hostile_json_lines_in_batch(rows, on_error, output):
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", encoding="utf-8",
                                     errors="surrogatepass") as handle:
        handle.write('{"x": 1, "y": 2}\n' + "\n".join(rows) + "\n")
        handle.flush()
        ran = gradcalc("batch", "x*y", "-i", handle.name, "--on-error", on_error,
                       "--output-format", output)
    context = (rows, ran.code, ran.stderr[-2000:])
    assert ran.code in (0, 2), context
    assert "Traceback" not in ran.stderr and "\x1b" not in ran.stderr, context
    if ran.code == 0 and output == "jsonl":
        for line in ran.stdout.splitlines():
            BATCH_ROW.validate(strict_json(line))


BATCH_ROW = _schema("batch-row")


# -- program shapes: long lists, many statements, nested gates, big arrays ---------------------
SHAPES = {
    "list": lambda n: "v = [" + ",".join(["x"] * n) + "]; sum(v)",
    "statements": lambda n: "\n".join(f"a{i} = x * {i}" for i in range(n)) + f"\na{n - 1}",
    "sum": lambda n: "+".join(f"sin(x*{i})" for i in range(n)),
    "gates": lambda n: "; ".join(["g1(t) = t*t"] + [f"g{k}(t) = g{k - 1}(t) + g{k - 1}(t)"
                                                     for k in range(2, n + 1)] + [f"g{n}(x)"]),
    "outer": lambda n: f"sum(transpose([[{','.join(['x'] * n)}]]) @ [[{','.join(['x'] * n)}]])",
    "matrix": lambda n: "sum(exp(M) * M + M / 2) + x",
}
SIZES = {"list": (1, 30_000), "statements": (1, 20_000), "sum": (1, 20_000), "gates": (1, 22),
         "outer": (1, 3_500), "matrix": (1, 700)}
SHAPE_SECONDS = 120  # per program, in a child process, on a heavily loaded machine
SHAPE_MEMORY = 1500 << 20  # the child's address space: numpy and a big pass fit in it


@st.composite
def program_shapes(draw):
    shape = draw(st.sampled_from(sorted(SHAPES)))
    size = draw(st.integers(*SIZES[shape]))
    return shape, size


@fuzz_settings(8)
@given(shape=program_shapes(), command=st.sampled_from(["eval", "check"]))
def test_program_shapes_are_bounded_under_a_memory_cap(shape, command, tmp_path_factory):
    """Big programs of every shape, each in a child process capped in memory: a result
    or one error (a limit named), within the time bound, never a crash or a kill."""
    from capped import run_capped

    kind, size = shape
    directory = tmp_path_factory.mktemp("shape")
    extra = []
    if kind == "matrix":
        row = "[" + ",".join(["0.5"] * size) + "]"
        (directory / "m.json").write_text('{"M": [%s]}' % ",".join([row] * size))
        extra = ["--bindings", str(directory / "m.json")]
    program = directory / "program.gc"
    program.write_text(SHAPES[kind](size))
    ran = run_capped(command, f"@{program}", "x=0.5", *extra, "--json",
                     memory=SHAPE_MEMORY, timeout=SHAPE_SECONDS * 2)
    context = (kind, size, command, ran)
    assert ran.code in (0, 1, 2), context
    assert ran.seconds < SHAPE_SECONDS, context
    assert "Traceback" not in ran.stderr and "this is a bug" not in ran.stderr, context
    if ran.code == 2:
        lines = ran.stderr.splitlines()
        assert lines[0].startswith("error: ") and "out of memory" not in lines[0], context
    document = ran.json()
    SCHEMAS["error" if "error" in document else command].validate(document)


# -- inputs that once failed (found by fuzzing and by hand), kept as regression cases --------
REGRESSIONS = [
    # a list nested past numpy's 64 dimensions: IndexError traceback
    ["eval", "sum(" + "[" * 70 + "x" + "]" * 70 + ")", "x=1"],
    ["eval", "x", "x=" + "[" * 70 + "1" + "]" * 70],
    # 2^20 nodes through doubling gates: ran until killed
    ["eval", "\n".join(["g0(t) = t + t"] + [f"g{k}(t) = g{k - 1}(g{k - 1}(t))"
                                           for k in range(1, 40)] + ["g39(x)"]), "x=1"],
    # 500 gates calling gates: RecursionError traceback
    ["eval", "\n".join(["g0(t) = t + 1"] + [f"g{k}(t) = g{k - 1}(t) * 1" for k in range(1, 500)]
                       + ["g499(x)"]), "x=1"],
    # exact numbers past the float range in float functions: OverflowError tracebacks
    *[["eval", f"{f}(x)", "x=10^400", "--exact"] for f in
      ("log", "sin", "cos", "tan", "tanh", "exp", "sigmoid", "softplus")],
    ["eval", "x^0.5 * 1.5", "x=10^400", "--exact"],
    # a million-digit literal under --exact: a long computation, then a ValueError printing it
    ["eval", "1e999999*x", "x=2", "--exact"],
    ["eval", "2^20000", "--exact"],
    # sin(inf): math.sin's ValueError reported as "the shapes scalar do not fit together"
    ["eval", "sin(x)", "x=1e999", "--json"],
    # arguments that are not UTF-8 (lone surrogates): JSON output could not be encoded
    ["eval", "x\udcff", "x=1", "--json"],
    ["eval", "x", "x=\udcff", "--json"],
    # a control character in the source went to the terminal in the caret line
    ["eval", "x + \x1b[2J", "x=1"],
    # found by the long run: a NUL in a file name (ValueError from open)
    ["check", "@\x00", "x=1", "--json"],
    # found by the long run: --steps through a gate computed by numpy (a vector binding
    # makes numpy compute) had no local gradient to print
    ["eval", "g0(a) = a; q0 = g0(x); q1 = x; q0", "x=-2", "v=[1, -2, 3]", "--steps"],
    # found by the suite's run: graph of a vector-valued program ('upstream == 0' on an
    # array), and a vector label with an exponent
    ["graph", "W @ v + b", "v=[1, -2, 3]", "W=[[1, 2, 3], [-1, 0, 2]]", "b=[0.5, -0.5]"],
    ["graph", "sum([x, x, x])", "x=1e300"],
    # found by the suite's run: a surrogate outside surrogateescape's range
    ["eval", "\ud800"],
    # found by the long run: numpy's RuntimeWarning (inf · 0 on an edge) printed by graph
    ["graph", "exp(max(x, 1e3))", "x=-2", "v=[1, -2, 3]"],
    # found by the long run: a warning showing a matrix spread over several lines
    ["graph", "y**v", "y=-2", "v=[1, -2, 3]"],
    # found by the hostile-JSON fuzzer: a vector as an answer to a scalar check
    # (AttributeError: 'FloatArith' object has no attribute 'stack')
    ["check", "x*y", "x=1", "y=2", "--expect", "x=[1, 2]", "--json"],
]


@pytest.mark.parametrize("args", REGRESSIONS, ids=range(len(REGRESSIONS)))
def test_regressions(args):
    ran = gradcalc(*args)
    assert_clean(ran)
    assert "\x1b" not in ran.stderr
