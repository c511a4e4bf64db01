"""`gradcalc graph`: the picture of the graph, checked through an independent reader.

The DOT text is laid out by Graphviz itself (`dot -Tjson`), and the assertions read what
Graphviz would draw: the text of every label, its colour and its position. The numbers
are compared with the ones published in the CS231n notes or with central differences of
the forward value, never with gradcalc's own gradients.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import gradcalc
from gradcalc import picture

# In CI Graphviz is installed (.ci/run), so a missing `dot` fails there instead of skipping.
needs_dot = pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                               reason="Graphviz's dot is not installed")

LECTURE = ["(x+y)*z", "x=-2", "y=5", "z=-4"]
NEURON_POINT = ["w0=2", "x0=-1", "w1=-3", "x1=-2", "w2=-3"]


class Drawn:
    """What Graphviz draws for a DOT text: per node and edge, its texts as
    (text, colour, y), y growing upwards; node positions as (x, y)."""

    def __init__(self, dot_text: str):
        done = subprocess.run(["dot", "-Tjson"], input=dot_text.encode("utf-8"),
                              capture_output=True, check=True)
        assert not done.stderr, done.stderr
        layout = json.loads(done.stdout)
        self.title = self.texts(layout.get("_ldraw_", []))
        objects = [o for o in layout["objects"] if "nodes" not in o and "pos" in o]
        by_id = {o["_gvid"]: o for o in objects}
        self.nodes = {o["name"]: o for o in objects}
        self.edges = [{"tail": by_id[e["tail"]]["name"], "head": by_id[e["head"]]["name"],
                       "texts": self.texts(e.get("_ldraw_", []))} for e in layout["edges"]]

    @staticmethod
    def texts(ops) -> list[tuple[str, str, float]]:
        found, colour = [], None
        for op in ops:
            if op["op"] == "c":
                colour = op["color"]
            elif op["op"] == "T":
                found.append((op["text"], colour, op["pt"][1]))
        return found

    def node_text(self, name: str) -> str:
        return " ".join(t for t, _, _ in self.texts(self.nodes[name].get("_ldraw_", [])))

    def named(self, text: str) -> str:
        """The node whose drawn text is `text` (it must be the only one)."""
        names = [n for n in self.nodes if self.node_text(n) == text]
        assert len(names) == 1, (text, names)
        return names[0]

    def position(self, name: str) -> tuple[float, float]:
        x, y = self.nodes[name]["pos"].split(",")
        return float(x), float(y)

    def edges_from(self, tail: str) -> list[dict]:
        return [e for e in self.edges if e["tail"] == tail]

    def edge(self, tail: str, head: str) -> dict:
        found = [e for e in self.edges if e["tail"] == tail and e["head"] == head]
        assert len(found) == 1, (tail, head, found)
        return found[0]


def numbers(edge: dict) -> tuple[float, float | None]:
    """The value (green, above) and the gradient (red, below) an edge is labelled with."""
    texts = edge["texts"]
    value = [t for t in texts if t[1] == picture.VALUE_COLOUR]
    grad = [t for t in texts if t[1] == picture.GRAD_COLOUR]
    assert len(value) == 1 and len(grad) <= 1 and len(texts) == len(value) + len(grad), texts
    if not grad:
        return float(value[0][0]), None
    assert value[0][2] > grad[0][2], "the value is drawn above the gradient"
    return float(value[0][0]), float(grad[0][0])


def into(drawn: Drawn, name: str) -> dict:
    """The edge leaving input `name`: the one into its branch point if it has several uses."""
    edges = drawn.edges_from(drawn.named(name))
    assert len(edges) == 1
    return edges[0]


def draw(gradcalc_cli, *args) -> Drawn:
    ran = gradcalc_cli("graph", *args, "--format", "dot")
    assert ran.code == 0, ran.stderr
    return Drawn(ran.stdout)


def central_difference(source: str, name: str, point: dict, h: float = 1e-6) -> float:
    """∂output/∂name from forward values only."""
    up = gradcalc.evaluate(source, **{**point, name: point[name] + h}).value
    down = gradcalc.evaluate(source, **{**point, name: point[name] - h}).value
    return (up - down) / (2 * h)


# -- the lecture's figures ------------------------------------------------------------

@needs_dot
def test_lecture_circuit_carries_the_published_numbers(gradcalc_cli):
    # CS231n notes, "Backpropagation, Intuitions": x=-2, y=5, z=-4 → q=3, f=-12,
    # ∂f/∂x = ∂f/∂y = -4, ∂f/∂z = 3, ∂f/∂q = -4.
    drawn = draw(gradcalc_cli, *LECTURE)
    add, mul = drawn.named("+"), drawn.named("*")
    assert numbers(drawn.edge(drawn.named("x"), add)) == (-2, -4)
    assert numbers(drawn.edge(drawn.named("y"), add)) == (5, -4)
    assert numbers(drawn.edge(drawn.named("z"), mul)) == (-4, 3)
    assert numbers(drawn.edge(add, mul)) == (3, -4)
    assert numbers(drawn.edge(mul, "output")) == (-12, 1)
    assert drawn.node_text("output") == "f"
    assert len(drawn.edges) == 5


@needs_dot
def test_inputs_on_the_left_output_on_the_right(gradcalc_cli):
    drawn = draw(gradcalc_cli, "sigmoid(w0*x0 + w1*x1 + w2)", *NEURON_POINT)
    inputs = [drawn.position(drawn.named(n))[0] for n in ("w0", "x0", "w1", "x1", "w2")]
    others = [drawn.position(n)[0] for n in drawn.nodes if drawn.node_text(n) not in
              ("w0", "x0", "w1", "x1", "w2")]
    assert max(inputs) == min(inputs) < min(others)
    assert drawn.position("output")[0] == max(x for x, _ in map(drawn.position, drawn.nodes))


@needs_dot
@pytest.mark.parametrize("source", ["sigmoid(w0*x0 + w1*x1 + w2)",
                                    "1/(1+exp(-(w0*x0+w1*x1+w2)))",
                                    "sig(t) = 1/(1+exp(-t)); sig(w0*x0+w1*x1+w2)"])
def test_sigmoid_neuron_carries_the_published_numbers(gradcalc_cli, source):
    # CS231n notes, the 2-d neuron: at two digits, as the notes print them.
    drawn = draw(gradcalc_cli, source, *NEURON_POINT, "--precision", "2")
    published = {"w0": (2, -0.20), "x0": (-1, 0.39), "w1": (-3, -0.39), "x1": (-2, -0.59),
                 "w2": (-3, 0.20)}
    for name, expected in published.items():
        assert numbers(into(drawn, name)) == expected, name
    assert numbers(drawn.edge(drawn.edges[-1]["tail"], "output")) == (0.73, 1)


@needs_dot
def test_sigmoid_written_out_shows_every_gate_of_the_notes_figure(gradcalc_cli):
    # The notes' figure, printed to two decimals: ... → -1 (grad -0.20) → exp → 0.37
    # (grad -0.53) → +1 → 1.37 (grad -0.53) → 1/x → 0.73.
    drawn = draw(gradcalc_cli, "1/(1+exp(-(w0*x0+w1*x1+w2)))", *NEURON_POINT)
    negate, exp, div = drawn.named("-"), drawn.named("exp"), drawn.named("/")
    (exp_out,) = drawn.edges_from(exp)
    (into_div,) = [e for e in drawn.edges if e["head"] == div and e["texts"]]
    for edge, published in [(drawn.edge(negate, exp), (-1, -0.20)), (exp_out, (0.37, -0.53)),
                            (into_div, (1.37, -0.53))]:
        assert numbers(edge) == pytest.approx(published, abs=0.005)


@needs_dot
def test_gate_nodes_show_their_symbol_and_names_are_kept(gradcalc_cli):
    drawn = draw(gradcalc_cli, "q = x + y; f = q * max(z, w); sig(t) = 1/(1+exp(-t)); "
                 "sigmoid(f) + sig(f) + 2", "x=-2", "y=5", "z=-4", "w=1")
    shapes = {drawn.node_text(n): drawn.nodes[n]["shape"] for n in drawn.nodes}
    for gate in ("+ q", "* f", "max", "σ", "sig", "+"):
        assert shapes[gate] == "circle", gate
    for leaf in ("x", "y", "z", "w", "2"):
        assert shapes[leaf] == "plaintext", leaf


@needs_dot
def test_constants_are_small_plain_nodes_without_edge_labels(gradcalc_cli):
    drawn = draw(gradcalc_cli, "x*2 + 1", "x=3")
    input_size = float(drawn.nodes[drawn.named("x")]["fontsize"])
    for constant in ("2", "1"):
        node = drawn.named(constant)
        assert drawn.nodes[node]["shape"] == "plaintext"
        assert float(drawn.nodes[node]["fontsize"]) < input_size
        (edge,) = drawn.edges_from(node)
        assert edge["texts"] == []


@needs_dot
def test_escaping_keeps_quotes_angles_ampersands_and_unicode(gradcalc_cli):
    drawn = draw(gradcalc_cli, 'σ*x # the "rate" <η> & co', "σ=0.5", "x=2")
    assert " ".join(t for t, _, _ in drawn.title) == 'σ*x # the "rate" <η> & co'
    assert numbers(into(drawn, "σ")) == (0.5, 2)


def test_mermaid_escapes_its_specials():
    text = 'a "b" <c> & #d; é'
    escaped = picture._mermaid_text(text)
    assert not set('"<>&') & set(escaped.replace("#quot;", "").replace("#lt;", "")
                                  .replace("#gt;", "").replace("#amp;", "").replace("#35;", ""))
    decoded = escaped
    for code, char in (("#quot;", '"'), ("#lt;", "<"), ("#gt;", ">"), ("#amp;", "&"),
                       ("#35;", "#")):
        decoded = decoded.replace(code, char)
    assert decoded == text


# -- gradients on branches -------------------------------------------------------------

@needs_dot
def test_a_branch_shows_the_total_and_each_share(gradcalc_cli):
    # x*x at x=3: d/dx x² = 6 arrives as 3 + 3, one share per use.
    drawn = draw(gradcalc_cli, "x*x", "x=3")
    to_branch = into(drawn, "x")
    assert drawn.nodes[to_branch["head"]]["shape"] == "point"
    assert numbers(to_branch) == (3, 6)
    shares = drawn.edges_from(to_branch["head"])
    assert [numbers(e) for e in shares] == [(3, 3), (3, 3)]


@needs_dot
def test_branch_totals_match_central_differences(gradcalc_cli):
    source = "a = x*y; b = a + x; b*a*x*x"
    point = {"x": 3.0, "y": -2.0}
    drawn = draw(gradcalc_cli, source, "x=3", "y=-2", "--precision", "6")
    for name in point:
        value, grad = numbers(into(drawn, name))
        assert value == point[name]
        assert grad == pytest.approx(central_difference(source, name, point), rel=1e-5)
    shares = drawn.edges_from(into(drawn, "x")["head"])
    assert len(shares) == 4
    assert sum(numbers(e)[1] for e in shares) == pytest.approx(
        central_difference(source, "x", point), rel=1e-5)


@pytest.mark.parametrize("source,point", [
    ("sum(v * s)", dict(v=[1.0, 2.0], s=3.0)),
    ("sum(W @ x + b)", dict(W=[[1.0, 2.0], [3.0, -4.0]], x=[1.0, -1.0], b=5.0)),
    ("a = W@x; sum(a) + max(a) * a[0]", dict(W=[[1.0, 2.0], [3.0, 4.0]], x=[1.0, 0.5])),
    ("sum(M * r) + norm(r)", dict(M=[[1.0, 2.0], [3.0, 4.0]], r=[10.0, -20.0])),
], ids=["scalar times vector", "bias", "branch", "row"])
def test_vector_arrows_carry_the_gradient_of_their_own_value(source, point):
    """An arrow's gradient has the shape of the value it carries (a scalar broadcast over
    a vector gets the sum), and the arrows out of an input add up to what central
    differences give, element by element."""
    import numpy as np

    result = gradcalc.evaluate(source, **point)
    edges = picture.edges(result.graph, result.run)
    for edge in edges:
        if edge.grad is not None and edge.value is not None and np.any(edge.grad != 0):
            assert np.shape(edge.grad) == np.shape(edge.value), edge
    for name, node in result.graph.inputs.items():
        leaving = [e for e in edges if e.tail in (f"n{node}", f"b{node}")
                   and e.head != f"b{node}"]
        total = sum(np.asarray(e.grad, dtype=float) for e in leaving)
        base = np.asarray(point[name], dtype=float)
        numeric = np.zeros_like(base)
        for index in np.ndindex(base.shape):
            up, down = base.copy(), base.copy()
            up[index] += 1e-6
            down[index] -= 1e-6
            numeric[index] = (gradcalc.evaluate(source, **{**point, name: up.tolist()}).value
                              - gradcalc.evaluate(source, **{**point, name: down.tolist()}).value
                              ) / 2e-6
        assert np.allclose(total, numeric, rtol=1e-5, atol=1e-6), (name, total, numeric)


@needs_dot
def test_upstream_scales_every_gradient(gradcalc_cli):
    drawn = draw(gradcalc_cli, *LECTURE, "--upstream", "2")
    assert numbers(drawn.edge(drawn.named("*"), "output")) == (-12, 2)
    assert numbers(into(drawn, "x")) == (-2, -8)


@needs_dot
def test_precision_sets_the_digits(gradcalc_cli):
    drawn = draw(gradcalc_cli, "sigmoid(w0*x0 + w1*x1 + w2)", *NEURON_POINT, "--precision", "5")
    texts = [t for t, _, _ in into(drawn, "w2")["texts"]]
    assert texts == ["-3", "0.19661"]  # σ(1)·(1-σ(1)) = 0.196612...


@needs_dot
def test_large_whole_numbers_have_no_exponent(gradcalc_cli):
    drawn = draw(gradcalc_cli, "x*1000", "x=1.2345")
    assert [t for t, _, _ in into(drawn, "x")["texts"]] == ["1.23", "1000"]
    assert [t for t, _, _ in drawn.edges[-1]["texts"]] == ["1230", "1"]


@needs_dot
def test_a_flagged_node_is_drawn_in_the_warning_colour(gradcalc_cli):
    ran = gradcalc_cli("graph", "max(x, y)", "x=1", "y=1")
    assert ran.code == 0 and "tie" in ran.stderr
    drawn = Drawn(ran.stdout)
    assert drawn.nodes[drawn.named("max")]["color"] == picture.WARN_COLOUR
    assert [numbers(e) for e in drawn.edges if e["head"] == drawn.named("max")] == \
        [(1, 0.5), (1, 0.5)]


# -- formats and files ----------------------------------------------------------------

def test_mermaid_flowchart_carries_the_lecture_numbers(gradcalc_cli):
    ran = gradcalc_cli("graph", *LECTURE, "--format", "mermaid")
    assert ran.code == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert "flowchart LR" in lines
    nodes = {m[1]: m[2] for m in map(re.compile(r"  (n\d+)(\S+)$").match, lines) if m}
    edges = [re.fullmatch(r'  (\w+) -->\|"([^"]*)"\| (\w+)', line) for line in lines
             if "-->" in line]
    assert len(edges) == 5 and all(edges)
    labels = {(m[1], m[3]): m[2] for m in edges}
    assert labels[("n0", "n3")] == "-2<br/>∂ -4"
    assert labels[("n2", "n4")] == "-4<br/>∂ 3"
    assert labels[("n3", "n4")] == "3<br/>∂ -4"
    assert labels[("n4", "output")] == "-12<br/>∂ 1"
    assert nodes["n3"] == '(("+"))' and nodes["n0"] == '["x"]:::input'


@needs_dot
def test_svg_is_xml_with_the_numbers(gradcalc_cli):
    ran = gradcalc_cli("graph", *LECTURE, "--format", "svg")
    assert ran.code == 0, ran.stderr
    root = ET.fromstring(ran.stdout)
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"x", "y", "z", "+", "*", "-12", "-4", "3", "f"} <= texts


@needs_dot
def test_png_to_a_file_named_by_its_extension(gradcalc_cli, tmp_path):
    target = tmp_path / "circuit.png"
    ran = gradcalc_cli("graph", *LECTURE, "-o", str(target))
    assert ran.code == 0, ran.stderr
    assert ran.stdout == ""
    assert target.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_text_formats_to_a_file(gradcalc_cli, tmp_path):
    target = tmp_path / "circuit.mmd"
    ran = gradcalc_cli("graph", *LECTURE, "-o", str(target))
    assert ran.code == 0 and target.read_text(encoding="utf-8").startswith("---\ntitle:")
    ran = gradcalc_cli("graph", *LECTURE, "-o", str(tmp_path / "circuit.gv"))
    assert ran.code == 0
    assert (tmp_path / "circuit.gv").read_text(encoding="utf-8").startswith("digraph")


# -- the large-graph policy and bad inputs ------------------------------------------------

def test_a_large_graph_is_refused_with_a_hint(gradcalc_cli):
    terms = 40  # 40 products and 39 sums over 80 inputs: 159 nodes
    source = " + ".join(f"w{i}*x{i}" for i in range(terms))
    bindings = [f"{p}{i}=1" for i in range(terms) for p in "wx"]
    ran = gradcalc_cli("graph", source, *bindings)
    assert ran.code == 2
    assert "159 nodes" in ran.stderr and "--max-nodes 159" in ran.stderr
    ran = gradcalc_cli("graph", source, *bindings, "--max-nodes", "159")
    assert ran.code == 0 and ran.stdout.count(" -> ") == 159


@pytest.mark.parametrize("args, message", [
    (["x+y", "x=1"], "no value for the name y"),
    (["log(x)", "x=-1"], "log is defined only for positive numbers"),
    (["x", "x=1", "-o", "picture.jpeg"], "cannot tell the picture format"),
    (["x", "x=1", "--format", "pdf"], "Invalid value for '--format'"),
    (["x", "x=1", "--max-nodes", "0"], "--max-nodes"),
    (["x", "x=1", "-o", "/nonexistent/dir/p.dot"], "cannot write /nonexistent/dir/p.dot"),
    (["exp(x)", "x=1000", "--strict"], "--strict"),
])
def test_bad_input_is_one_message_and_exit_2(gradcalc_cli, args, message):
    ran = gradcalc_cli("graph", *args)
    assert ran.code == 2
    assert message in ran.stderr
    assert "Traceback" not in ran.stderr


def test_png_is_not_written_to_a_terminal():
    pty = pytest.importorskip("pty")
    controller, terminal = pty.openpty()
    try:
        done = subprocess.run([sys.executable, "-m", "gradcalc", "graph", *LECTURE,
                               "--format", "png"], stdout=terminal, stderr=subprocess.PIPE,
                              text=True)
    finally:
        os.close(controller)
        os.close(terminal)
    assert done.returncode == 2
    assert "a PNG is binary" in done.stderr and "-o FILE.png" in done.stderr


def _run_without(path_dirs, *args):
    env = {**os.environ, "PATH": os.pathsep.join(path_dirs)}
    return subprocess.run([sys.executable, "-m", "gradcalc", "graph", *args],
                          capture_output=True, text=True, env=env)


@pytest.mark.parametrize("fmt", ["png", "svg"])
def test_missing_graphviz_says_how_to_install_it(tmp_path, fmt):
    done = _run_without([str(tmp_path)], *LECTURE, "--format", fmt)
    assert done.returncode == 2
    assert "needs Graphviz's `dot` program" in done.stderr
    assert "apt-get install graphviz" in done.stderr and "brew install graphviz" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""


@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
def test_text_formats_need_no_graphviz(tmp_path, fmt):
    done = _run_without([str(tmp_path)], *LECTURE, "--format", fmt)
    assert done.returncode == 0, done.stderr
    assert "-12" in done.stdout


def test_a_failing_dot_is_reported(tmp_path):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'Error: something broke' >&2\nexit 1\n")
    fake.chmod(0o755)
    done = _run_without([str(tmp_path)], *LECTURE, "--format", "svg")
    assert done.returncode == 2
    assert "Graphviz's dot could not draw the picture: Error: something broke" in done.stderr
    assert "Traceback" not in done.stderr
