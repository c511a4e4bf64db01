"""Shapes and constants: reshape, transpose with axes, concatenate, stack, batched @, and
arange, zeros, ones, eye, one_hot.

Values are checked against numpy itself (and, for the batched product, against a loop
over the matrices as the assignments write it); gradients against central differences
of the numpy reference, through the whole engine, with the attributes bound."""
import json
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import gradcalc

H = 1e-6


def _numeric_gradient(reference, arrays, name, upstream):
    """∂Σ(upstream · reference(arrays))/∂arrays[name] by central differences."""
    grad = np.zeros(np.shape(arrays[name]))
    for index in np.ndindex(grad.shape):
        def loss(delta):
            moved = {key: np.array(value, dtype=float) for key, value in arrays.items()}
            moved[name][index] += delta
            return float(np.sum(upstream * reference(**moved)))
        grad[index] = (loss(H) - loss(-H)) / (2 * H)
    return grad


def _agrees(source, reference, seed=0, **shapes):
    """gradcalc's value and gradients of `source` (with a random upstream gradient) equal
    numpy's value and the central differences of `reference`."""
    rng = np.random.default_rng(seed)
    arrays = {name: rng.normal(size=shape) for name, shape in shapes.items()}
    expected = reference(**arrays)
    upstream = rng.normal(size=np.shape(expected))
    result = gradcalc.evaluate(source, upstream=upstream.tolist(),
                               **{name: value.tolist() for name, value in arrays.items()})
    np.testing.assert_allclose(result.value, expected, rtol=1e-12, atol=1e-12)
    for name in arrays:
        np.testing.assert_allclose(result.gradients[name],
                                   _numeric_gradient(reference, arrays, name, upstream),
                                   rtol=1e-6, atol=1e-7, err_msg=f"{source}: ∂/∂{name}")
    return result


# -- reshape ------------------------------------------------------------------------------
@pytest.mark.parametrize("source,shape", [
    ("reshape(x, (2, -1))", (2, -1)), ("reshape(x, (-1, 3))", (-1, 3)),
    ("x.reshape(3, 2, 2)", (3, 2, 2)), ("x.reshape((4, -1))", (4, -1)),
    ("x.reshape(-1)", (-1,)), ("np.reshape(x, (12,))", (12,)), ("reshape(x, 12)", (12,)),
])
def test_reshape_in_every_spelling_matches_numpy(source, shape):
    _agrees(source, lambda x: np.reshape(x, shape), x=(2, 3, 2))


def test_reshape_keeps_numpys_element_order_for_a_matrix_product():
    # the affine layer of CS231n with a 3-D input: x reshaped into rows, then x_row @ w + b
    def affine(x, w, b):
        return np.reshape(x, (x.shape[0], -1)) @ w + b
    rng = np.random.default_rng(1)
    x, w, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(12, 5)), rng.normal(size=5)
    dout = rng.normal(size=(2, 5))
    result = gradcalc.evaluate("reshape(x, (N, -1)) @ w + b", x=x.tolist(), w=w.tolist(),
                               b=b.tolist(), N=2, upstream=dout.tolist())
    np.testing.assert_allclose(result.value, affine(x, w, b), rtol=1e-12)
    # affine_backward as the assignment writes it
    np.testing.assert_allclose(result.gradients["x"], (dout @ w.T).reshape(x.shape), rtol=1e-12)
    np.testing.assert_allclose(result.gradients["w"], x.reshape(2, -1).T @ dout, rtol=1e-12)
    np.testing.assert_allclose(result.gradients["b"], dout.sum(axis=0), rtol=1e-12)
    assert result.gradients["N"] is None  # a size: no gradient, shown as —


def test_reshape_into_a_jacobian_is_the_identity_rearranged():
    result = gradcalc.evaluate("reshape(x, (3, 2))", x=[[1, 2, 3], [4, 5, 6]])
    expected = np.eye(6).reshape(3, 2, 2, 3)
    np.testing.assert_array_equal(result.gradients["x"], expected)


def test_a_reshape_that_does_not_fit_names_both_shapes():
    with pytest.raises(gradcalc.GradcalcError) as error:
        gradcalc.evaluate("reshape(x, (4, -1))", x=[[1, 2, 3], [4, 5, 6]])
    message = str(error.value)
    assert "shape 2×3 (6 elements)" in message and "into shape (4, -1)" in message
    # the suggested shape really fits
    suggested = re.search(r"e\.g\., (\([-0-9, ]*\))", message).group(1)
    fitted = gradcalc.evaluate(f"reshape(x, {suggested})", x=[[1, 2, 3], [4, 5, 6]])
    assert np.shape(fitted.value) == (2, 3)


@pytest.mark.parametrize("shape,expected", [
    ("(4, 2)", "it holds 8"), ("(-1, -1)", "other than one -1"), ("(2, -3)", "other than one"),
    ("2.5", "whole number"), ("(0, -1)", "not a multiple of 0"),
])
def test_bad_reshapes_are_refused(shape, expected):
    with pytest.raises(gradcalc.GradcalcError, match=expected):
        gradcalc.evaluate(f"reshape(x, {shape})", x=[[1, 2, 3], [4, 5, 6]])


# -- transpose ---------------------------------------------------------------------------------
@pytest.mark.parametrize("source,axes", [
    ("transpose(x)", None), ("x.T", None), ("transpose(x, axes=(1, 0, 2))", (1, 0, 2)),
    ("transpose(x, (2, 0, 1))", (2, 0, 1)), ("x.transpose(0, 2, 1)", (0, 2, 1)),
    ("x.transpose((1, 2, 0))", (1, 2, 0)), ("np.transpose(x, (-1, 0, 1))", (-1, 0, 1)),
])
def test_transpose_with_axes_matches_numpy(source, axes):
    _agrees(source, lambda x: np.transpose(x, axes), x=(2, 3, 4))


@pytest.mark.parametrize("source,expected", [
    ("transpose(x, (0, 0, 1))", "name axis 0 twice"),
    ("transpose(x, axes=(0, 1))", "name 2 axes, and a value of shape 2×3×4 has 3"),
    ("x.transpose(0, 1, 3)", "axis 3 is out of range for a value with 3 dimensions"),
    ("transpose(x, (1, 0, 2), axes=(1, 0, 2))", "given twice"),
])
def test_bad_axes_are_refused(source, expected):
    with pytest.raises(gradcalc.GradcalcError, match=expected):
        gradcalc.evaluate(source, x=np.zeros((2, 3, 4)).tolist())


@settings(max_examples=40, deadline=None)
@given(shape=st.lists(st.integers(1, 3), min_size=1, max_size=4), data=st.data())
def test_random_transposes_and_reshapes_match_numpy(shape, data):
    axes = tuple(data.draw(st.permutations(range(len(shape)))))
    count = int(np.prod(shape))
    rows = data.draw(st.sampled_from([d for d in range(1, count + 1) if count % d == 0]))
    target = data.draw(st.sampled_from([(rows, -1), (-1, rows), (rows, count // rows, 1)]))
    _agrees(f"transpose(x, axes={axes}).reshape{target}",
            lambda x: np.transpose(x, axes).reshape(target), x=tuple(shape))


# -- concatenate and stack ---------------------------------------------------------------------
@pytest.mark.parametrize("source,parts,axis,shapes", [
    ("concatenate([a, b])", "ab", 0, [(2, 3), (1, 3)]),
    ("concatenate([a, b], axis=1)", "ab", 1, [(2, 3), (2, 1)]),
    ("np.concatenate((a, b), axis=-1)", "ab", -1, [(2, 3), (2, 2)]),
    ("concatenate([a, b], axis=None)", "ab", None, [(2, 3), (4,)]),
    ("concatenate([a, b, a], axis=0)", "aba", 0, [(2,), (3,)]),  # a twice: its parts add up
])
def test_concatenate_matches_numpy(source, parts, axis, shapes):
    _agrees(source, lambda a, b: np.concatenate([{"a": a, "b": b}[p] for p in parts],
                                                axis=axis), a=shapes[0], b=shapes[1])


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_stack_along_every_axis_matches_numpy(axis):
    _agrees(f"stack([a, b, a], axis={axis})", lambda a, b: np.stack([a, b, a], axis=axis),
            a=(2, 3), b=(2, 3))


def test_stack_of_numbers_is_a_vector():
    result = gradcalc.evaluate("sum(stack([x, y]) * [2, 3])", x=1, y=1)
    assert result.value == 5 and result.gradients == {"x": 2.0, "y": 3.0}


@pytest.mark.parametrize("source,expected", [
    ("concatenate([a, c], axis=0)", "differ on axis 1"),
    ("concatenate([a, v], axis=0)", "as many dimensions"),
    ("concatenate([a, x], axis=0)", "a single number"),
    ("concatenate([a, a], axis=2)", "axis 2 is out of range"),
    ("stack([a, c])", "stack needs values of one shape, and 2×3 and 2×2 differ"),
    ("stack([a, a], axis=-4)", "axis -4 is out of range"),
])
def test_bad_joins_are_refused(source, expected):
    with pytest.raises(gradcalc.GradcalcError, match=expected):
        gradcalc.evaluate(source, a=np.zeros((2, 3)).tolist(), c=np.zeros((2, 2)).tolist(),
                          v=[1, 2, 3], x=1)


@pytest.mark.parametrize("source", ["concatenate(a)", "concatenate([a, a], 1)",
                                    "stack(a, axis=0)"])
def test_a_join_takes_one_list_then_keywords(source):
    with pytest.raises(gradcalc.GradcalcError, match="takes one list of arrays"):
        gradcalc.evaluate(source, a=[[1, 2]])


# -- batched matrix product ----------------------------------------------------------------------
def _looped_matmul(a, b):
    """Stacks of matrices multiplied one pair at a time, the batch dimensions broadcast
    by hand (a plain-loop reference, independent of numpy's matmul)."""
    a2 = a[None, :] if a.ndim == 1 else a
    b2 = b[:, None] if b.ndim == 1 else b
    batch = np.broadcast_shapes(a2.shape[:-2], b2.shape[:-2])
    a3 = np.broadcast_to(a2, batch + a2.shape[-2:])
    b3 = np.broadcast_to(b2, batch + b2.shape[-2:])
    out = np.zeros(batch + (a2.shape[-2], b2.shape[-1]))
    for index in np.ndindex(batch):
        for i in range(a2.shape[-2]):
            for j in range(b2.shape[-1]):
                out[index + (i, j)] = sum(a3[index + (i, k)] * b3[index + (k, j)]
                                          for k in range(a2.shape[-1]))
    if a.ndim == 1:
        out = out[..., 0, :]
    if b.ndim == 1:
        out = out[..., 0]
    return out


@pytest.mark.parametrize("a,b", [
    ((4, 2, 3), (4, 3, 5)), ((4, 2, 3), (3, 5)), ((2, 3), (4, 3, 5)),
    ((2, 1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4)), ((2, 3, 4), (4,)), ((3,), (3,)),
])
def test_batched_matmul_matches_a_loop_and_central_differences(a, b):
    result = _agrees("a @ b", _looped_matmul, seed=len(a) + 3 * len(b), a=a, b=b)
    assert np.shape(result.value) == np.matmul(np.zeros(a), np.zeros(b)).shape


def test_matmul_spelled_as_a_function():
    _agrees("np.matmul(a, b)", lambda a, b: np.matmul(a, b), a=(3, 2, 2), b=(3, 2, 2))


def test_batch_sizes_that_do_not_broadcast_are_refused():
    with pytest.raises(gradcalc.GradcalcError, match="batch sizes 2 and 3"):
        gradcalc.evaluate("a @ b", a=np.zeros((2, 2, 2)).tolist(),
                          b=np.zeros((3, 2, 2)).tolist())


def test_dot_keeps_numpys_meaning_and_refuses_a_stack_on_the_right():
    # with a matrix on the right, numpy's dot is matmul
    _agrees("dot(a, b)", lambda a, b: np.dot(a, b), a=(2, 3, 4), b=(4, 2))
    with pytest.raises(gradcalc.GradcalcError, match="write a @ b"):
        gradcalc.evaluate("dot(a, b)", a=np.zeros((2, 2, 2)).tolist(),
                          b=np.zeros((2, 2, 2)).tolist())


# -- constants ----------------------------------------------------------------------------------
@pytest.mark.parametrize("source,expected", [
    ("arange(5)", np.arange(5.0)), ("arange(1, 7, 2)", np.arange(1, 7, 2.0)),
    ("arange(0, 1, 0.25)", np.arange(0, 1, 0.25)), ("arange(3, 0, -1)", np.arange(3, 0, -1.0)),
    ("zeros((2, 3))", np.zeros((2, 3))), ("zeros(3)", np.zeros(3)),
    ("ones(2, 3)", np.ones((2, 3))), ("np.ones((1, 2, 2))", np.ones((1, 2, 2))),
    ("eye(3)", np.eye(3)), ("eye(2, 3)", np.eye(2, 3)),
    ("one_hot([2, 0, 1, 2], 3)", np.eye(3)[[2, 0, 1, 2]]),
    ("one_hot([[1], [0]], 2)", np.eye(2)[[[1], [0]]]),
])
def test_constants_match_numpy(source, expected):
    result = gradcalc.evaluate(f"{source} + 0 * x", x=1, upstream=np.zeros(
        expected.shape).tolist())
    np.testing.assert_array_equal(result.value, expected)
    assert np.shape(result.value) == expected.shape


def test_one_hot_matches_pytorchs_layout_in_a_softmax_gradient():
    # ∂/∂S of Σ S ⊙ one_hot(y, C) is one_hot(y, C) itself: 1 at each row's label
    y = [2, 0, 1]
    result = gradcalc.evaluate("sum(S * one_hot(y, 3))", S=np.ones((3, 3)).tolist(), y=y)
    np.testing.assert_array_equal(result.gradients["S"], np.eye(3)[y])
    assert result.gradients["y"] is None


def test_constants_take_no_gradient_but_pass_one_through_the_product():
    result = gradcalc.evaluate("sum(x * arange(n)) + sum(eye(n) @ x)", x=[1, 2, 3], n=3)
    np.testing.assert_allclose(result.gradients["x"], [1, 2, 3])
    assert result.gradients["n"] is None


def test_arange_picks_each_rows_label_as_the_assignments_do():
    S = np.arange(12.0).reshape(4, 3)
    y = [2, 0, 1, 1]
    result = gradcalc.evaluate("sum(S[arange(N), y])", S=S.tolist(), y=y, N=4)
    assert result.value == S[np.arange(4), y].sum()
    expected = np.zeros((4, 3))
    expected[np.arange(4), y] = 1
    np.testing.assert_array_equal(result.gradients["S"], expected)


@pytest.mark.parametrize("source,expected", [
    ("one_hot(y, 3)", "label 3 is out of range for 3 classes (labels run 0 to 2)"),
    ("one_hot([0.5], 3)", "a label must be a whole number, and 0.5 is not"),
    ("one_hot([0], 0)", "at least 1"),
    ("zeros((100000, 100000))", "10,000,000,000 elements, more than the 10,000,000"),
    ("eye(5000)", "25,000,000 elements"),
    ("arange(1e12)", "more than the 10,000,000"),
    ("arange(-1e308, 1e308)", "more than the 10,000,000"),
    ("arange(0, 1, 0)", "step cannot be 0"),
    ("arange(1, 2, 3, 4)", "at most three arguments"),
    ("arange([1, 2])", "single numbers"),
    ("zeros(2, -3)", "negative size"),
    ("eye(2, 2, 2)", "one or two sizes"),
    ("ones((2, 1.5))", "whole number, and 1.5 is not"),
])
def test_bad_constants_are_refused(source, expected):
    with pytest.raises(gradcalc.GradcalcError) as error:
        gradcalc.evaluate(source, y=[0, 3, 1])
    assert expected in str(error.value)


# -- the table, --steps, --json, the picture and `gradcalc functions` ------------------------
SOURCE = "sum(concatenate([reshape(x, (2, -1)), x.T @ eye(2)], axis=0) * 2)"
BINDINGS = ["x=[[1, 2], [3, 4]]"]


def test_steps_write_each_matrix_rule(gradcalc_main):
    ran = gradcalc_main("eval", SOURCE, *BINDINGS, "--steps")
    assert ran.code == 0, ran.stderr
    for rule in ("reshaped to the shape of x", "slice 0 along the axis",
                 "slice 1 along the axis", "ᵀ"):
        assert rule in ran.stdout, rule
    assert "∂f/∂x = [[4, 4], [4, 4]]" in ran.stdout.replace("\n", " ")


def test_json_has_the_shapes_and_validates(gradcalc_main):
    import jsonschema
    from importlib.resources import files

    ran = gradcalc_main("eval", SOURCE, *BINDINGS, "--json")
    document = ran.json()
    schema = json.loads(files("gradcalc").joinpath("schemas/eval.schema.json").read_text())
    jsonschema.validate(document, schema)
    ops_seen = {node["op"] for node in document["nodes"]}
    assert {"reshape", "transpose", "eye", "concatenate", "matmul"} <= ops_seen
    assert document["gradients"]["x"] == [[4, 4], [4, 4]]


@pytest.mark.parametrize("kind", ["dot", "mermaid"])
def test_the_picture_has_a_node_per_op(gradcalc_main, kind):
    ran = gradcalc_main("graph", SOURCE, *BINDINGS, "--format", kind)
    assert ran.code == 0, ran.stderr
    for name in ("reshape", "concatenate", "eye"):
        assert name in ran.stdout


def test_functions_lists_every_spelling(gradcalc_main):
    ran = gradcalc_main("functions", "--json")
    written = {spelling for entry in ran.json()["functions"] for spelling in entry["written"]}
    for spelling in ("reshape(a, (N, -1))", "a.reshape(N, -1)", "transpose(a, axes=None)",
                     "a.T", "concatenate([a, b, ...], axis=0)", "stack([a, b, ...], axis=0)",
                     "a @ b", "matmul(a, b)", "arange(start, stop, step)", "zeros((n, m))",
                     "eye(n, m)", "one_hot(y, C)"):
        assert spelling in written, spelling


def test_the_readme_example_of_reshape():
    result = gradcalc.evaluate("sum(x.reshape(2, -1) @ [1, 2, 3])", x=[1, 2, 3, 4, 5, 6])
    assert result.value == 46
    np.testing.assert_array_equal(result.gradients["x"], [1, 2, 3, 1, 2, 3])
