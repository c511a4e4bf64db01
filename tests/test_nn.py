"""conv2d and max_pool2d against CS231n assignment 2, whole runs through gradcalc.

The oracles: the assignment's naive layers (tests/cs231n_naive.py, loops as the
assignment writes them), checked in turn against the outputs the assignment's notebook
publishes; the assignment's own numerical gradient
(`eval_numerical_gradient_array`, central differences) of those naive layers; and central
differences of the op itself with its attributes bound.
"""
import json

import pytest

import gradcalc
from gradcalc import ops

np = pytest.importorskip("numpy")
from cs231n_naive import (conv_backward_naive, conv_forward_naive,  # noqa: E402
                          eval_numerical_gradient_array, max_pool_backward_naive,
                          max_pool_forward_naive)


def agree(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-9)


# -- the references themselves, against the notebook's published outputs ------------------
def test_the_naive_references_give_the_assignments_published_outputs():
    # ConvolutionalNetworks.ipynb, "Convolution: Naive forward pass" and "Max-Pooling:
    # Naive forward": the expected outputs printed to 8 decimals.
    x = np.linspace(-0.1, 0.5, num=96).reshape(2, 3, 4, 4)
    w = np.linspace(-0.2, 0.3, num=144).reshape(3, 3, 4, 4)
    b = np.linspace(-0.1, 0.2, num=3)
    conv = [[[[-0.08759809, -0.10987781], [-0.18387192, -0.2109216]],
             [[0.21027089, 0.21661097], [0.22847626, 0.23004637]],
             [[0.50813986, 0.54309974], [0.64082444, 0.67101435]]],
            [[[-0.98053589, -1.03143541], [-1.19128892, -1.24695841]],
             [[0.69108355, 0.66880383], [0.59480972, 0.56776003]],
             [[2.36270298, 2.36904306], [2.38090835, 2.38247847]]]]
    out, _ = conv_forward_naive(x, w, b, {"stride": 2, "pad": 1})
    np.testing.assert_allclose(out, conv, atol=1e-8)
    assert gradcalc.evaluate("conv2d(x, w, b, stride=2, pad=1)", x=x, w=w, b=b,
                             upstream=np.ones((2, 3, 2, 2))).value == \
        pytest.approx(np.array(conv), abs=1e-8)
    x = np.linspace(-0.3, 0.4, num=96).reshape(2, 3, 4, 4)
    pool = [[[[-0.26315789, -0.24842105], [-0.20421053, -0.18947368]],
             [[-0.14526316, -0.13052632], [-0.08631579, -0.07157895]],
             [[-0.02736842, -0.01263158], [0.03157895, 0.04631579]]],
            [[[0.09052632, 0.10526316], [0.14947368, 0.16421053]],
             [[0.20842105, 0.22315789], [0.26736842, 0.28210526]],
             [[0.32631579, 0.34105263], [0.38526316, 0.4]]]]
    out, _ = max_pool_forward_naive(x, {"pool_height": 2, "pool_width": 2, "stride": 2})
    np.testing.assert_allclose(out, pool, atol=1e-8)


# -- gradcalc against the naive layers, forward and backward -------------------------------
CONV_CASES = [
    # the notebook's backward check: x 4×3×5×5, w 2×3×3×3, stride 1, pad 1
    ((4, 3, 5, 5), (2, 3, 3, 3), 1, 1),
    # its forward check's sizes: stride 2, pad 1, 4×4 filters
    ((2, 3, 4, 4), (3, 3, 4, 4), 2, 1),
    # windows that do not tile the input: the last row and column are left out
    ((2, 2, 7, 6), (4, 2, 3, 2), 2, 0),
]


@pytest.mark.parametrize("x_shape,w_shape,stride,pad", CONV_CASES)
def test_conv2d_agrees_with_the_naive_layer(x_shape, w_shape, stride, pad):
    rng = np.random.default_rng(sum(x_shape) + 10 * stride + pad)
    x, w, b = rng.normal(size=x_shape), rng.normal(size=w_shape), rng.normal(size=w_shape[0])
    conv_param = {"stride": stride, "pad": pad}
    out, cache = conv_forward_naive(x, w, b, conv_param)
    dout = rng.normal(size=out.shape)
    r = gradcalc.evaluate(f"conv2d(x, w, b, stride={stride}, pad={pad})", x=x, w=w, b=b,
                          upstream=dout)
    agree(r.value, out)
    for name, expected in zip("xwb", conv_backward_naive(dout, cache)):
        agree(r.gradients[name], expected)


def test_conv2d_backward_against_the_assignments_numerical_gradient():
    """The notebook's check: eval_numerical_gradient_array of the naive forward."""
    rng = np.random.default_rng(231)
    x, w, b = rng.normal(size=(4, 3, 5, 5)), rng.normal(size=(2, 3, 3, 3)), rng.normal(size=2)
    dout = rng.normal(size=(4, 2, 5, 5))
    conv_param = {"stride": 1, "pad": 1}
    fx = lambda x: conv_forward_naive(x, w, b, conv_param)[0]  # noqa: E731 (as the notebook)
    fw = lambda w: conv_forward_naive(x, w, b, conv_param)[0]  # noqa: E731
    fb = lambda b: conv_forward_naive(x, w, b, conv_param)[0]  # noqa: E731
    numerical = [eval_numerical_gradient_array(fx, x, dout),
                 eval_numerical_gradient_array(fw, w, dout),
                 eval_numerical_gradient_array(fb, b, dout)]
    r = gradcalc.evaluate("conv2d(x, w, b, stride=1, pad=1)", x=x, w=w, b=b, upstream=dout)
    for name, expected in zip("xwb", numerical):
        np.testing.assert_allclose(r.gradients[name], expected, rtol=1e-7, atol=1e-8)


POOL_CASES = [
    # the notebook's backward check: x 3×2×8×8, 2×2 windows, stride 2
    ((3, 2, 8, 8), 2, 2, 2),
    # its forward check's sizes
    ((2, 3, 4, 4), 2, 2, 2),
    # overlapping windows (stride below the size): gradients add where they overlap
    ((2, 2, 6, 5), 3, 3, 1),
    # a window 2 high and 3 wide that does not tile the input
    ((1, 3, 7, 8), 2, 3, 2),
]


@pytest.mark.parametrize("ties", ["split", "first"])
@pytest.mark.parametrize("x_shape,height,width,stride", POOL_CASES)
def test_max_pool2d_agrees_with_the_naive_layer(x_shape, height, width, stride, ties):
    rng = np.random.default_rng(sum(x_shape) + height + 7 * width)
    x = rng.normal(size=x_shape)  # no ties: both policies agree with the naive argmax
    pool_param = {"pool_height": height, "pool_width": width, "stride": stride}
    out, cache = max_pool_forward_naive(x, pool_param)
    dout = rng.normal(size=out.shape)
    size = height if height == width else f"({height}, {width})"
    r = gradcalc.evaluate(f"max_pool2d(x, size={size}, stride={stride})", x=x, upstream=dout,
                          ties=ties)
    agree(r.value, out)
    agree(r.gradients["x"], max_pool_backward_naive(dout, cache))
    assert r.warnings == []


def test_max_pool2d_backward_against_the_assignments_numerical_gradient():
    rng = np.random.default_rng(2)
    x, dout = rng.normal(size=(3, 2, 8, 8)), rng.normal(size=(3, 2, 4, 4))
    pool_param = {"pool_height": 2, "pool_width": 2, "stride": 2}
    numerical = eval_numerical_gradient_array(
        lambda x: max_pool_forward_naive(x, pool_param)[0], x, dout)
    r = gradcalc.evaluate("max_pool2d(x, size=2, stride=2)", x=x, upstream=dout)
    np.testing.assert_allclose(r.gradients["x"], numerical, rtol=1e-7, atol=1e-8)


def test_conv_relu_pool_sandwich_as_layer_utils_writes_it():
    """conv_relu_pool_forward/backward of the assignment's layer_utils, in one expression."""
    rng = np.random.default_rng(3)
    x, w, b = rng.normal(size=(2, 3, 16, 16)), rng.normal(size=(3, 3, 3, 3)), rng.normal(size=3)
    conv_param, pool_param = {"stride": 1, "pad": 1}, {"pool_height": 2, "pool_width": 2,
                                                       "stride": 2}
    a, conv_cache = conv_forward_naive(x, w, b, conv_param)
    s = np.maximum(a, 0)
    out, pool_cache = max_pool_forward_naive(s, pool_param)
    dout = rng.normal(size=out.shape)
    da = max_pool_backward_naive(dout, pool_cache) * (a > 0)
    dx, dw, db = conv_backward_naive(da, conv_cache)
    # spelled as a scalar loss, sum(out * dout), which needs no --upstream
    r = gradcalc.evaluate("out = max_pool2d(relu(conv2d(x, w, b, stride=1, pad=1)), size=2, "
                          "stride=2); sum(out * dout)", x=x, w=w, b=b, dout=dout)
    assert r.value == pytest.approx(np.sum(out * dout), rel=1e-12)
    for name, expected in (("x", dx), ("w", dw), ("b", db)):
        agree(r.gradients[name], expected)


# -- central differences of the op itself, with its attributes bound ----------------------
@pytest.fixture(scope="module")
def xp():
    from gradcalc.arrays import ArrayArith
    return ArrayArith()


def _central_differences(xp, op, args, g, k, h=1e-6):
    grad = np.zeros(np.shape(args[k]))
    for index in np.ndindex(grad.shape):
        moved = [np.array(a, dtype=float) for a in args]
        moved[k][index] += h
        up = np.sum(g * op.forward(xp, *moved))
        moved[k][index] -= 2 * h
        grad[index] = (up - np.sum(g * op.forward(xp, *moved))) / (2 * h)
    return grad


@pytest.mark.parametrize("name,attrs,shapes", [
    ("conv2d", dict(stride=2, pad=1), [(2, 3, 5, 6), (4, 3, 3, 3), (4,)]),
    ("conv2d", dict(stride=(1, 2), pad=(2, 0)), [(1, 2, 4, 5), (2, 2, 2, 3), (2,)]),
    ("max_pool2d", dict(size=3, stride=1), [(2, 2, 5, 5)]),
    ("max_pool2d", dict(size=(2, 3), stride=(1, 2)), [(1, 3, 5, 7)]),
])
def test_bound_attributes_match_central_differences(name, attrs, shapes, xp):
    op = ops.BY_NAME[name].bind(**attrs)
    rng = np.random.default_rng(5)
    args = [rng.normal(size=shape) for shape in shapes]
    assert op.domain(xp, *args) is None
    out = op.forward(xp, *args)
    assert op.kink is None or op.kink(xp, out, *args) is None
    g = rng.normal(size=out.shape)
    for k, analytic in enumerate(op.vjp(xp, g, out, *args)):
        assert analytic.shape == args[k].shape
        np.testing.assert_allclose(analytic, _central_differences(xp, op, args, g, k),
                                   rtol=1e-6, atol=1e-7)


# -- ties in a pooling window --------------------------------------------------------------
TIED = np.array([[[[1.0, 3.0, 0.0, 2.0],
                   [3.0, 3.0, 2.0, 2.0],
                   [0.0, 1.0, 5.0, 4.0],
                   [2.0, 0.0, 4.0, 2.0]]]])  # windows tied 3 ways (3s), 3 ways (2s), none, none


def test_pooling_ties_split_the_gradient_evenly_by_default_and_warn():
    dout = np.array([[[[6.0, 3.0], [1.0, 2.0]]]])
    r = gradcalc.evaluate("max_pool2d(x)", x=TIED, upstream=dout)
    expected = [[[[0, 2, 0, 1], [2, 2, 1, 1], [0, 0, 2, 0], [1, 0, 0, 0]]]]
    np.testing.assert_array_equal(r.gradients["x"], expected)
    (_, message), = r.warnings
    assert message.startswith("2 pooling windows tie for the max; the gradient is split evenly")
    assert "--ties first" in message


def test_pooling_ties_first_is_the_assignments_argmax():
    dout = np.array([[[[6.0, 3.0], [1.0, 2.0]]]])
    r = gradcalc.evaluate("max_pool2d(x)", x=TIED, upstream=dout, ties="first")
    cache = (TIED, {"pool_height": 2, "pool_width": 2, "stride": 2})
    np.testing.assert_array_equal(r.gradients["x"], max_pool_backward_naive(dout, cache))
    (_, message), = r.warnings
    assert "goes to the first tied element in row-major order (--ties first" in message


def test_pooling_tie_on_the_command_line(gradcalc_cli):
    x = json.dumps(TIED.tolist())
    split = gradcalc_cli("eval", "sum(max_pool2d(x))", f"x={x}", "--json").json()
    assert split["gradients"]["x"][0][0][0] == [0, 1 / 3, 0, 1 / 3]
    first = gradcalc_cli("eval", "sum(max_pool2d(x))", f"x={x}", "--ties", "first", "--json")
    assert first.json()["gradients"]["x"][0][0][0] == [0, 1, 0, 1]
    shown = gradcalc_cli("eval", "sum(max_pool2d(x))", f"x={x}")
    assert "warning: node 1 (max_pool2d(x)): 2 pooling windows tie" in shown.stderr
    strict = gradcalc_cli("eval", "sum(max_pool2d(x))", f"x={x}", "--strict")
    assert strict.code == 2


def test_overlapping_windows_add_their_gradients():
    # stride 1: the centre of a 3×3 image is in all four 2×2 windows, and is each one's max
    x = np.array([[[[0.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]]])
    r = gradcalc.evaluate("sum(max_pool2d(x, size=2, stride=1))", x=x)
    np.testing.assert_array_equal(r.gradients["x"], [[[[0, 0, 0], [0, 4, 0], [0, 0, 0]]]])
    assert r.warnings == []


def test_stride_defaults_to_the_window_size_as_pytorch():
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    assert gradcalc.evaluate("sum(max_pool2d(x, size=3))", x=x).value == 14 + 17 + 32 + 35


# -- the rest of the tool: --steps, the table, JSON, pictures, functions, --exact ----------
SMALL = ["x=[[[[1, 2, 0], [0, -1, 3], [2, 1, 1]]]]", "w=[[[[1, -1], [0, 2]]], [[[0, 1], [1, 0]]]]",
         "b=[0.5, -1]"]
SANDWICH = "a = conv2d(x, w, b, pad=1); p = max_pool2d(a); sum(p)"


def test_steps_and_table_say_each_layers_rule(gradcalc_cli):
    out = gradcalc_cli("eval", SANDWICH, *SMALL, "--steps").stdout
    steps = out[out.index("Chain rule"):]
    assert "∂f/∂a = ∂f/∂p routed to the largest element of each window of a" in steps
    assert "∂f/∂x = ∂f/∂a convolved back through w" in steps
    assert "∂f/∂w = Σ ∂f/∂a · windows of x" in steps
    assert "∂f/∂b = Σ ∂f/∂a over N, H', W'" in steps
    table = out[:out.index("Chain rule")]
    assert "conv2d" in table and "1×2×4×4" in table and "1×2×2×2" in table


def test_json_document_matches_the_schema(gradcalc_cli):
    from test_schemas import validate

    document = gradcalc_cli("eval", SANDWICH, *SMALL, "--json").json()
    validate(document, "eval")
    assert [node["op"] for node in document["nodes"]][-3:] == ["conv2d", "max_pool2d", "sum"]


def test_pictures_have_a_node_per_layer(gradcalc_cli):
    ran = gradcalc_cli("graph", SANDWICH, *SMALL, "--format", "dot")
    assert ran.code == 0 and "conv2d" in ran.stdout and "maxpool" in ran.stdout


def test_functions_list_the_layers_with_their_keywords(gradcalc_cli):
    rows = {row["op"]: row for row in gradcalc_cli("functions", "--json").json()["functions"]}
    assert "conv2d(a, b, c, stride=1, pad=0)" in json.dumps(rows["conv2d"], ensure_ascii=False)
    assert "max_pool2d(a, size=2, stride=None)" in json.dumps(rows["max_pool2d"],
                                                             ensure_ascii=False)


def test_exact_refuses_the_layers(gradcalc_cli):
    ran = gradcalc_cli("eval", "sum(max_pool2d(x))", "x=[[[[1, 2], [3, 4]]]]", "--exact")
    assert ran.code == 2 and "--exact works on scalars only" in ran.stderr


def test_the_readme_example_by_hand():
    # The filter [[1, -1], [0, 2]] over the 3×3 image gives [[-2.5, 8.5], [3.5, -1.5]]
    # (with the bias 0.5); the pool picks 8.5, from the window at row 0, column 1. So
    # ∂x is the filter placed there, ∂w that window of x, ∂b 1.
    r = gradcalc.evaluate("a = conv2d(x, w, b); p = max_pool2d(a); sum(p)",
                          x=[[[[1, 2, 0], [0, -1, 3], [2, 1, 1]]]], w=[[[[1, -1], [0, 2]]]],
                          b=[0.5])
    assert r.value == 8.5
    np.testing.assert_array_equal(r.gradients["x"], [[[[0, 1, -1], [0, 0, 2], [0, 0, 0]]]])
    np.testing.assert_array_equal(r.gradients["w"], [[[[2, 0], [-1, 3]]]])
    np.testing.assert_array_equal(r.gradients["b"], [1])
    conv, = (row["value"] for row in r.nodes if row["op"] == "conv2d")
    np.testing.assert_array_equal(conv, [[[[-2.5, 8.5], [3.5, -1.5]]]])


@pytest.mark.parametrize("call", ["conv2d(x, w, b, stride=(2,))", "conv2d(x, w, b, pad=(1, -1))",
                                  "conv2d(x, w, b, stride=(1, 2, 3))", "conv2d(x, w, b, pad=None)",
                                  "conv2d(x, w, b, stride=1.5)", "max_pool2d(x, size=True)",
                                  "max_pool2d(x, size=(2, 0))", "max_pool2d(x, stride=(1,))"])
def test_bad_attributes_are_one_message_with_the_caret_on_the_keyword(gradcalc_main, call):
    ran = gradcalc_main("eval", f"sum({call})", "x=[[[[1, 2], [3, 4]]]]", "w=[[[[1]]]]", "b=[0]")
    assert ran.code == 2 and "Traceback" not in ran.stderr
    error, source, caret, hint = ran.stderr.splitlines()
    keyword = call[call.rindex(" ", 0, call.index("=")) + 1:-1]  # "stride=(2,)"
    assert error.startswith(f"error: {keyword}: the ") and "must be a whole number" in error
    assert source[caret.index("^"):][:len(keyword)] == keyword and caret.count("^") == len(keyword)
    assert hint.startswith("hint: ")


def test_windows_past_the_limit_are_refused_before_they_are_allocated(gradcalc_main, xp):
    # The output alone (1×1×200001×200001) passes the element limit: refused from shapes.
    ran = gradcalc_main("eval", "sum(conv2d(x, w, b, pad=100000))", "x=[[[[1]]]]",
                        "w=[[[[1]]]]", "b=[0]")
    assert ran.code == 2 and "more than 10,000,000 numbers in all" in ran.stderr
    # Under a limit raised past it, the padded input's windows are the next bound.
    ran = gradcalc_main("eval", "sum(conv2d(x, w, b, pad=100000))", "x=[[[[1]]]]",
                        "w=[[[[1]]]]", "b=[0]", "--max-elements", str(10**11))
    assert ran.code == 2 and "Traceback" not in ran.stderr
    assert "this filter would unfold the input into 40,000,400,001 numbers" in ran.stderr
    assert "more than the 20,000,000 gradcalc allocates (use less padding" in ran.stderr
    # 24,000,000 numbers of 1×1 windows (a broadcast view: nothing allocated here either)
    images = np.broadcast_to(np.float64(0), (6, 4, 1000, 1000))
    problem, culprit = ops.BY_NAME["max_pool2d"].bind(size=1).domain(xp, images)
    assert "24,000,000 numbers" in problem and culprit == 0
    assert ops.BY_NAME["max_pool2d"].domain(xp, images[:4]) is None  # 16,000,000
