"""The JSON Schemas shipped with the package, checked against real output of every command.

Each document is produced by the command itself (eval with floats, rationals, arrays and
non-finite numbers; check; every kind of error; functions; batch rows when the batch
command exists) and validated with jsonschema, so a change to the output that the
schema does not allow (or a schema that allows anything) fails here.
"""
import copy
import inspect
import json
from importlib import resources

import jsonschema
import pytest

import gradcalc.errors
from gradcalc.cli import cli

NAMES = ("eval", "check", "error", "functions", "batch-row", "grade-row", "hessian",
         "symbolic", "check-order2")


def schema(name: str) -> dict:
    """A schema as installed: read from the package, as a user would."""
    text = resources.files("gradcalc").joinpath("schemas", f"{name}.schema.json").read_text(
        encoding="utf-8")
    return json.loads(text)


def validate(document, name: str) -> None:
    jsonschema.Draft202012Validator(schema(name)).validate(document)


def rejects(document, name: str) -> bool:
    return not jsonschema.Draft202012Validator(schema(name)).is_valid(document)


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_a_valid_2020_12_schema(name):
    document = schema(name)
    assert document["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(document)


def test_shared_definitions_agree_across_files():
    """number, span, ... are written out in each file (so each stands alone): they must
    not drift apart."""
    seen = {}
    for name in NAMES:
        for key, definition in schema(name).get("$defs", {}).items():
            assert seen.setdefault(key, definition) == definition, (name, key)
    assert {"number", "span", "tensor", "rational", "warnings"} <= set(seen)


# -- eval ---------------------------------------------------------------------------------
EVAL_CASES = {
    "lecture": ["(x+y)*z", "x=-2", "y=5", "z=-4"],
    "gate, names and a tie": ["q = max(x, y) * z; sig(t) = 1/(1+exp(-t)); sig(q)",
                              "x=1", "y=1", "z=2"],
    "a constant subtree": ["x * (2 + 3)", "x=1"],
    "overflow to inf": ["exp(x) - exp(x)", "x=1000"],
    "wrt": ["x*y", "x=2", "y=3", "--wrt", "y"],
    "exact": ["x/3 + exp(y) + sqrt(z)", "x=1", "y=0", "z=9/4", "--exact"],
    "vector and Jacobian": ["W @ v", "W=[[1,2],[3,4]]", "v=[1,1]"],
    "vector with upstream": ["relu(W @ v + b)", "W=[[1,-2],[3,4]]", "v=[1,1]", "b=[0,1]",
                             "--upstream", "[1,2]"],
    "reductions and indexing": ["sum(v * v) + max(v) + v[0] + norm(v) + mean(v)",
                                "v=[3,4,4]"],
    "non-finite in a vector": ["exp(v)", "v=[1, 1000]", "--upstream", "[1, 1]"],
    "layers with a pooling tie": ["max_pool2d(conv2d(x, w, b))", "x=[[[[1, 2], [2, 1]]]]",
                                  "w=[[[[3]]]]", "b=[0]", "--upstream", "[[[[2]]]]"],
}


@pytest.mark.parametrize("args", EVAL_CASES.values(), ids=EVAL_CASES.keys())
def test_eval_documents_match_the_schema(gradcalc_cli, args):
    ran = gradcalc_cli("eval", *args, "--json")
    assert ran.code == 0, ran.stderr
    validate(ran.json(), "eval")


def test_eval_schema_tells_exact_from_float(gradcalc_cli):
    floats = gradcalc_cli("eval", *EVAL_CASES["lecture"], "--json").json()
    exact = gradcalc_cli("eval", *EVAL_CASES["exact"], "--json").json()
    assert exact["gradients"]["x"] == "1/3"
    wrong = copy.deepcopy(floats)
    wrong["value"] = "-12"  # a rational string in a float document
    assert rejects(wrong, "eval")
    wrong = copy.deepcopy(exact)
    wrong["value"] = [1.0, 2.0]  # no arrays under --exact
    assert rejects(wrong, "eval")
    wrong = copy.deepcopy(floats)
    wrong["nodes"][0]["value"] = "Infinity"  # non-finite numbers are "inf", "-inf", "nan"
    assert rejects(wrong, "eval")
    for key in ("nodes", "gradients", "value", "output"):
        wrong = copy.deepcopy(floats)
        del wrong[key]
        assert rejects(wrong, "eval"), key
    wrong = copy.deepcopy(floats)
    wrong["nodes"][3]["span"] = [0, 5, 7]
    assert rejects(wrong, "eval")


# -- check --------------------------------------------------------------------------------
CHECK_CASES = {
    "lecture with answers": ["q = x + y; f = q * z", "x=-2", "y=5", "z=-4",
                             "--expect", "value=-12", "--expect", "y=4",
                             "--expect", "value(q)=3"],
    "unreliable at a kink": ["relu(x)*y", "x=1e-9", "y=2"],
    "no numerical gradient": ["log(x)", "x=1e-7"],
    "matrix input, one wrong element": ["sum(tanh(W @ x))", "W=[[0.2, -0.5], [1.5, 1.3]]",
                                        "x=[0.3, -1.2]", "--expect", "W=[[1, 2], [3, 4]]",
                                        "--expect", "x=[1, 2]"],
    "sampled, rounded, atol": ["sum(relu(v))", "v=[1, 1e-9, -2, 3]", "--sample", "3",
                               "--rounded", "--atol", "1e-3", "--expect", "v=[1, 1, 0, 1]"],
}


@pytest.mark.parametrize("args", CHECK_CASES.values(), ids=CHECK_CASES.keys())
def test_check_documents_match_the_schema(gradcalc_cli, args):
    ran = gradcalc_cli("check", *args, "--json")
    assert ran.code in (0, 1), ran.stderr
    document = ran.json()
    validate(document, "check")
    wrong = copy.deepcopy(document)
    wrong["gradient_check"][0]["verdict"] = "maybe"
    assert rejects(wrong, "check")


@pytest.mark.parametrize("args", [["x^2*y", "x=1", "y=2"], ["log(x)*y", "x=1e-6", "y=2"],
                                  ["relu(x)*y", "x=0", "y=2"]])
def test_second_order_check_documents_match_their_schema(gradcalc_cli, args):
    ran = gradcalc_cli("check", *args, "--order", "2", "--json")
    assert ran.code in (0, 1), ran.stderr
    document = ran.json()
    validate(document, "check-order2")
    wrong = copy.deepcopy(document)
    wrong["entries"][0]["verdict"] = "maybe"
    assert rejects(wrong, "check-order2")
    assert rejects(document, "check")  # a document of its own, not --order 1's


def test_check_array_rows_are_real_output(gradcalc_cli):
    document = gradcalc_cli("check", *CHECK_CASES["matrix input, one wrong element"],
                            "--json").json()
    row = document["gradient_check"][0]
    assert row["shape"] == [2, 2] and len(row["elements"]) == 4
    assert document["answers"][0]["wrong"]  # the case the schema describes
    for key in ("elements", "shape"):  # one without the other is not a report
        broken = copy.deepcopy(document)
        del broken["gradient_check"][0][key]
        assert rejects(broken, "check")
    broken = copy.deepcopy(document)
    broken["answers"][0]["wrong"][0]["index"] = "0,1"
    assert rejects(broken, "check")


def test_check_null_numerical_is_real_output(gradcalc_cli):
    document = gradcalc_cli("check", *CHECK_CASES["no numerical gradient"], "--json").json()
    assert document["gradient_check"][0]["numerical"] is None  # the case the schema allows


# -- errors: one real error object per kind -----------------------------------------------
ERROR_CASES = {
    "syntax": ["eval", "(x+y", "x=1", "y=2"],
    "name": ["eval", "x*y", "x=1"],
    "arity": ["eval", "exp(x, x)", "x=1"],
    "binding": ["eval", "x", "x=abc"],
    "domain": ["eval", "log(x)", "x=-1"],
    "shape": ["eval", "v + w", "v=[1,2]", "w=[1,2,3]"],
    "limit": ["eval", "2^10^10", "--exact"],
    "strict": ["eval", "exp(x)", "x=1000", "--strict"],
    "usage": ["eval", "x", "x=1", "--wrt", "q"],
}


@pytest.mark.parametrize("kind,args", ERROR_CASES.items(), ids=ERROR_CASES.keys())
def test_error_objects_match_the_schema(gradcalc_cli, kind, args):
    ran = gradcalc_cli(*args, "--json")
    assert ran.code == 2
    document = ran.json()
    assert document["error"]["kind"] == kind
    validate(document, "error")


def test_check_errors_are_error_objects_too(gradcalc_cli):
    ran = gradcalc_cli("check", "x", "x=1", "--answers", "/nonexistent.json", "--json")
    assert ran.code == 2
    validate(ran.json(), "error")


def test_every_error_class_has_its_kind_in_the_schema():
    kinds = set(schema("error")["properties"]["error"]["properties"]["kind"]["enum"])
    classes = [c for _, c in inspect.getmembers(gradcalc.errors, inspect.isclass)
               if issubclass(c, gradcalc.errors.GradcalcError)
               and c is not gradcalc.errors.GradcalcError]
    assert {c.kind for c in classes} == kinds
    # and each kind has a real case: above, or (memory, Ctrl-C, a bug) in test_hostile.py
    assert set(ERROR_CASES) | {"memory", "interrupted", "internal"} == kinds


def test_error_schema_rejects_what_it_should():
    good = {"schema": 1, "error": {"kind": "syntax", "message": "missing ')'", "span": [0, 1]}}
    validate(good, "error")
    assert rejects({**good, "error": {**good["error"], "kind": "oops"}}, "error")
    assert rejects({**good, "error": {**good["error"], "message": ""}}, "error")
    assert rejects({"schema": 1}, "error")


# -- functions ----------------------------------------------------------------------------
def test_functions_document_matches_the_schema(gradcalc_cli):
    ran = gradcalc_cli("functions", "--json")
    assert ran.code == 0
    document = ran.json()
    validate(document, "functions")
    assert any(row["arity"] == "2+" for row in document["functions"])  # both arity forms


# -- batch (JSON Lines rows), when the command exists ---------------------------------------
def test_batch_rows_match_the_schema(gradcalc_cli, tmp_path):
    command = cli.commands.get("batch")
    if command is None:
        pytest.skip("gradcalc batch is not part of this build")
    choices = next(p.type.choices for p in command.params if p.name == "output_format")
    json_lines = next(choice for choice in choices if "json" in choice or "nd" in choice)
    points = tmp_path / "points.jsonl"
    points.write_text('{"x": 1, "y": 2}\n{"x": -3, "y": 0.5}\n{"x": 0, "y": 0}\n')
    ran = gradcalc_cli("batch", "max(x, y) * exp(x)", "--input", str(points),
                       "--output-format", json_lines)
    assert ran.code == 0, ran.stderr
    rows = [json.loads(line) for line in ran.stdout.splitlines() if line.strip()]
    assert len(rows) == 3
    for row in rows:
        validate(row, "batch-row")
        assert {"value", "grad_x", "grad_y"} <= set(row)
    assert rejects({"x": 1}, "batch-row")  # no value
    assert rejects({"value": 1.0, "grad_x": "big"}, "batch-row")


# -- grade (JSON Lines rows) ----------------------------------------------------------------
def test_grade_rows_match_the_schema(gradcalc_cli, tmp_path):
    path = tmp_path / "class.jsonl"
    rows = [{"id": "a", "x": -2, "y": 5, "z": -4, "grad(q)": 4, "grad(x)": 4, "value": -12},
            {"id": "b", "x": -2, "y": 5, "z": -4, "grad(q)": -4, "grad(x)": -4, "value": 1},
            {"id": "c", "v": 1, "x": -2, "y": 5, "z": -4, "grad(q)": None, "value": -12}]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ran = gradcalc_cli("grade", "q = x + y; f = q * z", "--answers", str(path),
                       "--carry-forward")
    assert ran.code == 0, ran.stderr
    lines = [json.loads(line) for line in ran.stdout.splitlines()]
    assert [line["carried"] for line in lines] == [["grad(x)"], [], []]
    for line in lines:
        validate(line, "grade-row")
    assert rejects({**lines[0], "score": -1}, "grade-row")
    assert rejects({**lines[0], "wrong": [{"answer": "grad(q)", "given": 4}]}, "grade-row")
    assert rejects({k: v for k, v in lines[0].items() if k != "first_wrong"}, "grade-row")
