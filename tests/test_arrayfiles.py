"""Arrays from and to files: `@FILE` binding values (.npy, .csv, .txt), --bindings .npz,
--upstream @FILE, `eval -o FILE.npz|FILE.json`, and integer arrays (labels, indices) that
stay integers and take no gradient.

The oracles are numpy itself (np.loadtxt for what a CSV holds) and the gradients written
out by hand in plain numpy, the way CS231n's affine_backward and an embedding's backward
write them; never gradcalc's own output on another path.
"""
import io
import json
import os

import numpy as np
import pytest

import gradcalc
from gradcalc.api import prepare
from test_schemas import validate

RNG = np.random.default_rng(12)


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """Run in a fresh directory, as a user in the folder of their arrays."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


# -- reading ------------------------------------------------------------------------------
def test_npy_bindings_give_the_gradients_of_the_lecture_formula(in_tmp, gradcalc_cli):
    W, x = RNG.normal(size=(3, 4)), RNG.normal(size=4)
    np.save("W.npy", W)
    np.save("x.npy", x)
    doc = gradcalc_cli("eval", "q = W@x; f = sum(q^2)", "W=@W.npy", "x=@x.npy",
                       "--json").json()
    q = W @ x  # f = ‖Wx‖²: ∂f/∂W = 2q·xᵀ, ∂f/∂x = Wᵀ·2q
    assert doc["value"] == pytest.approx(q @ q, rel=1e-12)
    np.testing.assert_allclose(doc["gradients"]["W"], 2 * np.outer(q, x), rtol=1e-12)
    np.testing.assert_allclose(doc["gradients"]["x"], W.T @ (2 * q), rtol=1e-12)


@pytest.mark.parametrize("name,delimiter", [("X.csv", ","), ("X.txt", " ")])
def test_text_files_hold_what_np_loadtxt_reads(in_tmp, name, delimiter):
    X = RNG.normal(size=(3, 2))
    np.savetxt(name, X, delimiter=delimiter, fmt="%.17g")  # every digit: exact round trip
    _, _, values, _ = prepare("sum(X)", {"X": f"@{name}"})
    expected = np.loadtxt(name, delimiter=None if delimiter == " " else delimiter)
    assert values["X"].dtype == np.float64
    np.testing.assert_array_equal(values["X"], expected)
    np.testing.assert_array_equal(values["X"], X)


def test_a_text_file_of_whole_numbers_is_still_float(in_tmp):
    """Text does not say whether 1,2 are labels or features: features (float64) it is."""
    (in_tmp / "v.csv").write_text("1,2\n3,4\n")
    _, _, values, _ = prepare("sum(v^2)", {"v": "@v.csv"})
    assert values["v"].dtype == np.float64
    assert gradcalc.evaluate("sum(v^2)", v="@v.csv").gradients["v"].tolist() == \
        [[2, 4], [6, 8]]


def test_a_0d_npy_is_a_scalar_binding(in_tmp, gradcalc_cli):
    np.save("b.npy", np.float64(0.25))
    doc = gradcalc_cli("eval", "x*b", "x=2", "b=@b.npy", "--json").json()
    assert (doc["value"], doc["gradients"]) == (0.5, {"x": 0.25, "b": 2.0})


def test_narrower_floats_become_float64(in_tmp):
    np.save("h.npy", np.array([0.1, 0.2], dtype=np.float32))
    _, _, values, _ = prepare("sum(h)", {"h": "@h.npy"})
    assert values["h"].dtype == np.float64
    np.testing.assert_array_equal(values["h"], np.array([0.1, 0.2], dtype=np.float32))


def test_bindings_npz_binds_every_array_and_the_command_line_wins(in_tmp, gradcalc_cli):
    W, x = RNG.normal(size=(2, 3)), RNG.normal(size=3)
    np.savez("params.npz", W=W, x=x)
    doc = gradcalc_cli("eval", "sum(W@x)", "--bindings", "params.npz", "x=[1,1,1]",
                       "--json").json()
    assert doc["value"] == pytest.approx(W.sum(), rel=1e-12)
    np.testing.assert_allclose(doc["gradients"]["x"], W.sum(axis=0), rtol=1e-12)


def test_a_json_bindings_file_may_name_array_files(in_tmp, gradcalc_cli):
    v = RNG.normal(size=4)
    np.save("v.npy", v)
    (in_tmp / "b.json").write_text(json.dumps({"v": "@v.npy", "c": "1/2"}))
    doc = gradcalc_cli("eval", "sum(c*v^2)", "--bindings", "b.json", "--json").json()
    np.testing.assert_allclose(doc["gradients"]["v"], v, rtol=1e-12)


def test_the_api_reads_array_files_too(in_tmp):
    np.save("v.npy", np.array([1.0, 2.0, 3.0]))
    result = gradcalc.evaluate("sum(v^2)", v="@v.npy")
    assert result.value == 14.0
    assert result.gradients["v"].tolist() == [2.0, 4.0, 6.0]


# -- --upstream @FILE -------------------------------------------------------------------------
def affine_backward(dout, x, w):
    """CS231n assignment 2, layers.affine_backward, as the assignment writes it."""
    dx = dout.dot(w.T).reshape(x.shape)
    dw = x.reshape(x.shape[0], -1).T.dot(dout)
    db = np.sum(dout, axis=0)
    return dx, dw, db


def test_upstream_from_a_file_is_affine_backward(in_tmp, gradcalc_cli):
    x, w, b, dout = (RNG.normal(size=s) for s in ((4, 5), (5, 3), (3,), (4, 3)))
    np.savez("layer.npz", x=x, w=w, b=b)
    np.save("dout.npy", dout)
    doc = gradcalc_cli("eval", "x@w + b", "--bindings", "layer.npz", "--upstream",
                       "@dout.npy", "--json").json()
    dx, dw, db = affine_backward(dout, x, w)
    np.testing.assert_allclose(doc["value"], x @ w + b, rtol=1e-12)
    for name, expected in (("x", dx), ("w", dw), ("b", db)):
        np.testing.assert_allclose(doc["gradients"][name], expected, rtol=1e-9, atol=1e-12)


def batchnorm_backward(dout, x, gamma, eps):
    """CS231n assignment 2, batchnorm_backward, staged through the forward's graph as the
    assignment's reference writes it."""
    N = x.shape[0]
    mu = x.mean(axis=0)
    xc = x - mu
    std = np.sqrt((xc ** 2).mean(axis=0) + eps)
    xn = xc / std
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * xn, axis=0)
    dxn = dout * gamma
    dxc = dxn / std
    dstd = -np.sum((dxn * xc) / (std * std), axis=0)
    dvar = 0.5 * dstd / std
    dxc += (2.0 / N) * xc * dvar
    dmu = np.sum(dxc, axis=0)
    return dxc - dmu / N, dgamma, dbeta


def test_upstream_from_a_file_is_batchnorm_backward(in_tmp, gradcalc_main):
    """The mean over the rows written as a product with a row of ones, (1/N)·1ᵀx."""
    x = RNG.normal(loc=3, scale=2, size=(4, 5))
    gamma, beta, dout = RNG.normal(size=5), RNG.normal(size=5), RNG.normal(size=(4, 5))
    np.savez("bn.npz", x=x, gamma=gamma, beta=beta, o=np.ones((1, 4)))
    np.save("dout.npy", dout)
    program = ("mu = o@x/4; xc = x - mu; v = o@(xc^2)/4; "
               "out = gamma*xc/sqrt(v + 1e-5) + beta")
    ran = gradcalc_main("eval", program, "--bindings", "bn.npz", "--upstream", "@dout.npy",
                        "-o", "grads.npz")
    assert ran.code == 0, ran.stderr
    dx, dgamma, dbeta = batchnorm_backward(dout, x, gamma, 1e-5)
    with np.load("grads.npz") as grads:
        for name, expected in (("x", dx), ("gamma", dgamma), ("beta", dbeta)):
            np.testing.assert_allclose(grads[name], expected, rtol=1e-9, atol=1e-12)


def test_an_integer_upstream_counts_as_floats(in_tmp, gradcalc_cli):
    np.save("dout.npy", np.array([1, 2]))
    doc = gradcalc_cli("eval", "v*3", "v=[1,1]", "--upstream", "@dout.npy", "--json").json()
    assert doc["gradients"]["v"] == [3.0, 6.0]


# -- integer arrays ---------------------------------------------------------------------------
def test_integer_labels_stay_integers_and_take_no_gradient(in_tmp, gradcalc_cli):
    """An embedding lookup with repeated indices, E[y]: the rows picked twice add up their
    gradients (the backward np.add.at writes), and y, an int64 array, has none."""
    E, G = RNG.normal(size=(5, 3)), RNG.normal(size=(4, 3))
    y = np.array([1, 3, 1, 4])
    np.savez("emb.npz", E=E, G=G, y=y)
    _, _, values, _ = prepare("sum(E[y] * G)", dict(np.load("emb.npz")))
    assert values["y"].dtype == np.int64
    doc = gradcalc_cli("eval", "sum(E[y] * G)", "--bindings", "emb.npz", "--json").json()
    dE = np.zeros_like(E)
    np.add.at(dE, y, G)
    np.testing.assert_allclose(doc["gradients"]["E"], dE, rtol=1e-12)
    assert doc["gradients"]["y"] is None
    assert next(node for node in doc["nodes"] if node["label"] == "y")["grad"] is None
    validate(doc, "eval")


def test_an_integer_array_in_arithmetic_takes_no_gradient_either(in_tmp, gradcalc_cli):
    """As an integer tensor in PyTorch: y*2 computes, and nothing flows back to y."""
    np.save("y.npy", np.array([0, 2, 1]))
    ran = gradcalc_cli("eval", "sum(w*y)", "w=[1.5,2,3]", "y=@y.npy")
    assert "f = 7   ∂f/∂w = [0, 2, 1]   ∂f/∂y = —" in ran.stdout


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int32, np.bool_])
def test_every_integer_kind_becomes_int64(in_tmp, dtype):
    np.save("y.npy", np.array([1, 0, 1], dtype=dtype))
    _, _, values, _ = prepare("sum(y)", {"y": "@y.npy"})
    assert values["y"].dtype == np.int64
    assert values["y"].tolist() == [1, 0, 1]


def test_integer_numpy_arrays_through_the_api(in_tmp):
    result = gradcalc.evaluate("sum(v[y]^2)", v=[1.0, 2.0, 3.0], y=np.array([0, 2, 0]))
    assert result.value == 11.0
    assert result.gradients == {"v": pytest.approx(np.array([4.0, 0.0, 6.0])), "y": None}
    circuit = gradcalc.compile("sum(v*y)")
    circuit.forward(v=[1.0, 2.0], y=np.array([3, 4]))
    circuit.backward()
    assert circuit.gradients["y"] is None
    circuit.forward(v=[1.0, 2.0], y=[3.0, 4.0])  # floats again: a gradient again
    circuit.backward()
    assert circuit.gradients["y"].tolist() == [1.0, 2.0]


# -- eval -o ----------------------------------------------------------------------------------
def test_output_npz_holds_the_value_and_each_gradient(in_tmp, gradcalc_cli):
    x, w, b = (RNG.normal(size=s) for s in ((4, 5), (5, 3), (3,)))
    y = np.array([0, 2, 1, 2])
    np.savez("net.npz", x=x, w=w, b=b, y=y)
    ran = gradcalc_cli("eval", "sum((x@w + b)[[0, 1, 2, 3], y])", "--bindings", "net.npz",
                       "-o", "grads.npz")
    assert ran.code == 0, ran.stderr
    with np.load("grads.npz", allow_pickle=False) as grads:
        assert sorted(grads.files) == ["b", "value", "w", "x"]  # y: no gradient, no array
        dout = np.zeros((4, 3))
        dout[np.arange(4), y] = 1
        dx, dw, db = affine_backward(dout, x, w)
        assert grads["value"] == pytest.approx((x @ w + b)[np.arange(4), y].sum(), rel=1e-12)
        np.testing.assert_allclose(grads["x"], dx, rtol=1e-12)
        np.testing.assert_allclose(grads["w"], dw, rtol=1e-12)
        np.testing.assert_allclose(grads["b"], db, rtol=1e-12)


def test_output_npz_follows_wrt_and_keeps_jacobians(in_tmp, gradcalc_cli):
    W = RNG.normal(size=(2, 3))
    np.save("W.npy", W)
    assert gradcalc_cli("eval", "W@x", "W=@W.npy", "x=[1,2,3]", "--wrt", "x",
                        "-o", "J.npz").code == 0
    with np.load("J.npz") as out:
        assert sorted(out.files) == ["value", "x"]
        np.testing.assert_allclose(out["x"], W, rtol=1e-15)  # ∂(Wx)/∂x = W
        np.testing.assert_allclose(out["value"], W @ [1, 2, 3], rtol=1e-15)


def test_a_scalar_output_npz_is_0d_arrays(in_tmp, gradcalc_cli):
    assert gradcalc_cli("eval", "(x+y)*z", "x=-2", "y=5", "z=-4", "-o", "g.npz").code == 0
    with np.load("g.npz") as out:
        assert {k: out[k].tolist() for k in out.files} == \
            {"value": -12.0, "x": -4.0, "y": -4.0, "z": 3.0}


def test_output_json_is_the_json_document(in_tmp, gradcalc_cli):
    args = ("eval", "q = W@x; f = sum(q^2)", "W=[[0.1,0.5],[-0.3,0.8]]", "x=[0.2,0.4]")
    printed = gradcalc_cli(*args, "--json").stdout
    ran = gradcalc_cli(*args, "-o", "doc.json")
    assert ran.code == 0 and "f = 0.116" in ran.stdout  # the summary line
    assert (in_tmp / "doc.json").read_text("utf-8") == printed
    validate(json.loads(printed), "eval")


def test_output_replaces_a_file_whole_or_not_at_all(in_tmp, gradcalc_cli):
    (in_tmp / "g.npz").write_bytes(b"the previous run")
    ran = gradcalc_cli("eval", "log(x)", "x=-1", "-o", "g.npz")
    assert ran.code == 2
    assert (in_tmp / "g.npz").read_bytes() == b"the previous run"
    assert gradcalc_cli("eval", "log(x)", "x=2", "-o", "g.npz").code == 0
    with np.load("g.npz") as out:
        assert out["x"] == 0.5
    assert sorted(os.listdir(in_tmp)) == ["g.npz"]  # no temporary file left behind


# -- bad input ----------------------------------------------------------------------------------
def _make_files(folder):
    np.save(folder / "W.npy", np.ones((2, 2)))
    np.savez(folder / "params.npz", W=np.ones((2, 2)), b=np.zeros(2))
    np.savez(folder / "named.npz", **{"fc1.weight": np.ones(2)})
    np.save(folder / "objects.npy", np.array([1, None], dtype=object), allow_pickle=True)
    np.save(folder / "complex.npy", np.array([1 + 2j]))
    np.save(folder / "words.npy", np.array(["a", "b"]))
    (folder / "text.npy").write_text("1,2\n3,4\n")
    (folder / "W.npz").write_bytes((folder / "W.npy").read_bytes())
    (folder / "binary.csv").write_bytes((folder / "W.npy").read_bytes())
    (folder / "header.csv").write_text("a,b\n1,2\n")
    (folder / "ragged.csv").write_text("1,2\n3\n")
    (folder / "empty.csv").write_text("")
    (folder / "latin1.csv").write_bytes(b"1,2\xe9\n")
    (folder / "truncated.npy").write_bytes((folder / "W.npy").read_bytes()[:70])
    (folder / "folder.npy").mkdir()
    os.mkfifo(folder / "fifo.npy")
    header = io.BytesIO()  # a header that declares 8 TB, and 64 bytes after it
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    (folder / "huge.npy").write_bytes(header.getvalue() + bytes(64))


BAD_FILES = [
    (["x=@missing.npy"], "x", "cannot read missing.npy: there is no such file"),
    (["x=@folder.npy"], "x", "folder.npy is a directory, not a file"),
    (["x=@W.mat"], "x", "cannot tell what W.mat holds from its extension"),
    (["x=@params.npz"], "x", "bind each of its arrays by its name with --bindings params.npz"),
    (["x=@text.npy"], "x", "text.npy is not an .npy file: it looks like text"),
    (["x=@binary.csv"], "x", "binary.csv is not text: it looks like a .npy array"),
    (["x=@objects.npy"], "x", "holds Python objects (pickled), which gradcalc does not load"),
    (["x=@complex.npy"], "x", "holds complex numbers"),
    (["x=@words.npy"], "x", "holds values of type <U1, not numbers"),
    (["x=@header.csv"], "x", "could not convert string 'a' to float64"),
    (["x=@ragged.csv"], "x", "the number of columns changed from 2 to 1"),
    (["x=@empty.csv"], "x", "empty.csv holds no numbers"),
    (["x=@latin1.csv"], "x", "latin1.csv is not UTF-8 text"),
    (["x=@truncated.npy"], "x", "truncated.npy is a damaged .npy file"),
    (["x=@huge.npy"], "x", "declares shape (1000000000000,) (8,000,000,000,000 bytes), "
                           "and it holds 64 bytes"),
    (["x=@"], "x", "@ names no file"),
    (["x=@fifo.npy"], "x", "fifo.npy is not a regular file"),
    (["--bindings", "params.npz"], "W@v", "params.npz binds W, b; bind v=..."),
    (["--bindings", "W.npz"], "x", "W.npz is not an .npz file: it looks like a .npy array"),
    (["--bindings", "named.npz"], "x", "an array named 'fc1.weight'"),
    (["--bindings", "missing.npz"], "x", "cannot read missing.npz: there is no such file"),
    (["x=[1,2]", "--upstream", "@W.npy"], "x*2", "--upstream has shape 2×2 but the output"),
    (["x=[1,2]", "--upstream", "@text.npy"], "x*2", "text.npy is not an .npy file"),
    (["x=1", "-o", "g.csv"], "x", "cannot tell what to write to g.csv"),
    (["x=1", "-o", "g.npz", "--exact"], "x", "--exact computes rationals"),
    (["value=1", "-o", "g.npz"], "value*2", "two arrays named value"),
    (["x=1", "-o", "no/such/folder/g.npz"], "x", "cannot write no/such/folder/g.npz"),
]


@pytest.mark.parametrize("args,expr,message", BAD_FILES, ids=[m[:40] for *_, m in BAD_FILES])
def test_bad_files_are_one_message_and_exit_2(in_tmp, gradcalc_main, args, expr, message):
    _make_files(in_tmp)
    ran = gradcalc_main("eval", expr, *args)
    assert ran.code == 2, (ran.stdout, ran.stderr)
    assert message in ran.stderr, ran.stderr
    lines = ran.stderr.splitlines()
    assert sum(line.startswith("error: ") for line in lines) == 1
    assert lines[-1].startswith("hint: ") and "Traceback" not in ran.stderr
    error = gradcalc_main("eval", expr, *args, "--json").json()["error"]
    assert message in error["message"] + error["hint"]
    validate({"schema": 1, "error": error}, "error")


def test_the_caret_sits_under_the_file_name(in_tmp, gradcalc_main):
    ran = gradcalc_main("eval", "x", "x=@nowhere.npy")
    source, caret = ran.stderr.splitlines()[1:3]
    start = caret.index("^")
    assert source[start:start + caret.count("^")] == "nowhere.npy"


def test_a_long_archive_is_listed_in_part(in_tmp, gradcalc_main):
    np.savez("many.npz", **{f"a{k}": np.ones(1) for k in range(30)})
    ran = gradcalc_main("eval", "sum(a0*q)", "--bindings", "many.npz")
    assert "binds a0, a1," in ran.stderr and "a19 and 10 more; bind q=..." in ran.stderr
