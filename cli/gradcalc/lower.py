"""Stage 2, lower: AST → graph nodes in topological (forward) order.

Walks the AST with an explicit stack, never recursion, so a 20,000-deep nesting lowers
like a flat one. Resolves names (assignments, inputs, the constants pi and e, gates),
checks calls against the op table, and numbers the nodes inputs first, as SPEC §4 shows.
Enforces the nesting-depth and node-count limits (gradcalc.limits) as it goes, so an
oversized program stops before it is built.
"""
from __future__ import annotations

from . import collector, ops
from .errors import ArityError, LimitError, UndefinedNameError
from .frozen import Frozen
from .limits import DEFAULT, MAX_GATE_NESTING, Limits, exceeded
from .syntax import (Array, Assign, Binary, Call, Expr, GateDef, Index, Name, Number, Program,
                     Span, Unary)

INPUT, CONST, OP, GATE = "input", "const", "op", "gate"


# Node, Graph and Gate are plain classes rather than dataclasses, which compile their
# methods when the module is imported, on every start of the command (see gradcalc.syntax).
class Node:
    __slots__ = ("id", "kind", "op", "inputs", "span", "name", "text", "needs_grad")

    def __init__(self, id: int, kind: str, op: object, inputs: tuple[int, ...],  # noqa: A002
                 span: Span, name: str | None = None, text: str = "",
                 needs_grad: bool = False):
        self.id = id
        self.kind = kind  # INPUT, CONST, OP or GATE
        self.op = op  # an ops.Op, a Gate, or None for leaves
        self.inputs = inputs
        self.span = span
        self.name = name  # an input's name, a constant's (pi), or an assigned name
        self.text = text  # a constant's literal
        self.needs_grad = needs_grad  # depends on some input, so ∂output/∂node is computed

    def __repr__(self):
        return (f"Node(id={self.id!r}, kind={self.kind!r}, op={self.op!r}, "
                f"inputs={self.inputs!r}, span={self.span!r}, name={self.name!r}, "
                f"text={self.text!r}, needs_grad={self.needs_grad!r})")

    @property
    def op_name(self) -> str:
        return self.kind if self.op is None else self.op.name


class Graph:
    def __init__(self, source: str, nodes: list[Node], output: int, inputs: dict[str, int],
                 warnings: list[tuple[int | None, str]] | None = None,
                 uses_arrays: bool = False):
        self.source = source
        self.nodes = nodes
        self.output = output
        self.inputs = inputs  # input name → node id, in order of first appearance
        self.warnings = [] if warnings is None else warnings
        self.uses_arrays = uses_arrays  # has vectors or matrices: computed with numpy
        self.plan = None  # the nodes as gradcalc.run's loops read them, built on first run

    def walk(self):
        """(graph, node) for every node, user gates' bodies included, each body once
        (an explicit-stack walk: gates may call gates)."""
        pending, seen = [self], set()
        while pending:
            graph = pending.pop()
            for node in graph.nodes:
                if node.kind == GATE and id(node.op) not in seen:
                    seen.add(id(node.op))
                    pending.append(node.op.body)
                yield graph, node

    @property
    def work(self) -> int:
        """The nodes one pass computes, each user gate call counted as its body's nodes
        (a collapsed gate runs its whole body)."""
        return sum(node.op.size if node.kind == GATE else 1 for node in self.nodes)

    def label(self, node: Node, width: int = 48) -> str:
        """The node's name, or its source text (middle elided past `width` characters:
        the labels of a 100,000-term sum must not cost O(n²))."""
        if node.name is not None:
            return node.name
        start, end = _strip_parens(self.source, *node.span)
        if end - start > width:
            half = width // 2 - 1
            head = " ".join(self.source[start:start + half].split())
            tail = " ".join(self.source[end - half:end].split())
            return f"{head}…{tail}"
        return " ".join(self.source[start:end].split())


class Gate(Frozen):
    """A user gate `name(params) = body`: one node whose local gradient is backprop
    through the body's own graph (gradcalc.run runs it). Immutable; compared by identity:
    one per definition."""

    __slots__ = ("name", "body", "params", "size", "nesting")

    def __init__(self, name: str, body: Graph, params: tuple[str, ...], size: int = 1,
                 nesting: int = 1):
        _set = object.__setattr__
        _set(self, "name", name)
        _set(self, "body", body)
        _set(self, "params", params)
        _set(self, "size", size)  # nodes of one call, every gate inside expanded: its work
        _set(self, "nesting", nesting)  # 1 + the nesting of the gates its body calls

    def __repr__(self):
        return f"Gate(name={self.name!r}, params={self.params!r}, size={self.size!r})"

    @property
    def arity(self):
        return len(self.params)

    symbol = property(lambda self: self.name)
    rule = property(lambda self: "backprop through the gate's body")


@collector.paused
def lower(program: Program, bound: set[str] | None = None, expand: bool = False,
          limits: Limits = DEFAULT) -> Graph:
    """Build the graph of `program`.

    `bound` is the set of names that have values: free names outside it are errors (all
    listed at once). With `bound=None` every free name except pi and e is an input.
    `expand` inlines user gates instead of making each call one node. A program nested
    deeper than `limits.depth`, or with more than `limits.nodes` nodes once its gates are
    expanded, is a LimitError.
    """
    lowering = _Lowering(program.source, bound, expand, limits=limits)
    return lowering.program(program.statements)


class _Lowering:
    def __init__(self, source: str, bound: set[str] | None, expand: bool,
                 gates: dict[str, Gate | GateDef] | None = None, limits: Limits = DEFAULT):
        self.source = source
        self.limits = limits
        self.size = 0  # nodes created so far, a collapsed gate call counted as its size
        self.bound = bound
        self.expand = expand
        self.nodes: list[Node] = []
        self.inputs: dict[str, int] = {}
        self.names: dict[str, int] = {}  # assigned name → node id
        self.versions: dict[str, int] = {}
        self.gates: dict[str, Gate | GateDef] = dict(gates or {})
        self.unbound: dict[str, Span] = {}
        self.warnings: list[tuple[int | None, str]] = []
        self.defining: str | None = None  # the gate whose body is being lowered

    # -- statements ---------------------------------------------------------------
    def program(self, statements) -> Graph:
        roots: list[tuple[int, object]] = []
        for statement in statements:
            if isinstance(statement, GateDef):
                self.define_gate(statement)
            elif isinstance(statement, Assign):
                node = self.expr(statement.value)
                self.assign(statement.name, node, statement.name_span)
                roots.append((node, statement))
            else:
                roots.append((self.expr(statement), statement))
        if self.unbound:
            self.fail_unbound()
        if not roots:
            last = statements[-1]
            raise UndefinedNameError(
                "the program only defines gates; there is no output to compute",
                self.source, last.span, hint=f"add a last line that calls it, e.g. "
                f"{last.name}({', '.join(p.id for p in last.params)})")
        output = roots[-1][0]
        return self.finish(output, roots)

    def assign(self, name: str, node: int, span: Span) -> None:
        if name in self.gates:
            raise UndefinedNameError(f"'{name}' is a gate; it cannot also be a value",
                                     self.source, span, hint="choose another name")
        version = self.versions.get(name, 0) + 1
        self.versions[name] = version
        self.names[name] = node
        target = self.nodes[node]
        if target.kind in (OP, GATE) and target.name is None:
            target.name = name if version == 1 else f"{name}#{version}"

    # -- expressions: an explicit-stack post-order walk ----------------------------
    def expr(self, root: Expr) -> int:
        results: list[int] = []
        limit = self.limits.depth
        # (expr, its children once they are pushed, its nesting depth)
        stack: list[tuple[Expr, tuple | None, int]] = [(root, None, 1)]
        while stack:
            expr, children, depth = stack.pop()
            if children is not None:  # its children are lowered: their ids end `results`
                count = len(children)
                args = tuple(results[len(results) - count:]) if count else ()
                del results[len(results) - count:]
                results.append(self.operation(expr, args))
            elif type(expr) is Number:
                results.append(self.leaf(CONST, expr.text, None, expr.span))
            elif type(expr) is Name:
                results.append(self.name(expr))
            else:
                if depth >= limit:  # its operands would be nested deeper than the limit
                    raise exceeded("depth", f"the expression is nested more than {limit:,} "
                                            "deep", self.source, expr.span,
                                   hint="name intermediate results (q = ...; f = q * z)")
                children = _children(expr)
                stack.append((expr, children, depth))
                if type(expr) is Binary and expr.op != "^":
                    # `a + b + c` is a chain, not a nesting: the left operand keeps its
                    # parent's depth, so a 100,000-term sum is as deep as one term.
                    stack.append((children[1], None, depth + 1))
                    stack.append((children[0], None, depth))
                else:
                    stack.extend([(child, None, depth + 1) for child in reversed(children)])
        return results[0]

    def operation(self, expr: Expr, args: tuple[int, ...]) -> int:
        if isinstance(expr, Binary):
            return self.emit(OP, ops.BINARY[expr.op], args, expr.span)
        if isinstance(expr, Unary):
            # Unary plus is the identity: it makes no node.
            return args[0] if expr.op == "+" else self.emit(OP, ops.NEGATE, args, expr.span)
        if isinstance(expr, Array):
            return self.emit(OP, ops.ARRAY, args, expr.span)
        if isinstance(expr, Index):
            return self.emit(OP, ops.INDEX, args, expr.span)
        return self.call(expr, args)

    def call(self, expr: Call, args: tuple[int, ...]) -> int:
        gate = self.gates.get(expr.func)
        if gate is not None:
            self.check_arity(expr, len(gate.params), None)
            if self.size + gate.size > self.limits.nodes:
                raise self.too_many_nodes(expr.span)  # before copying or running the body
            if self.expand:
                return self.inline(gate, expr, args)
            if gate.nesting > MAX_GATE_NESTING and self.defining is None:
                raise LimitError(
                    f"gate '{gate.name}' calls gates nested {gate.nesting} deep, more than "
                    f"the {MAX_GATE_NESTING} levels gradcalc evaluates", self.source,
                    expr.func_span, hint="--expand inlines the gates and has no such limit")
            return self.emit(GATE, gate, args, expr.span)
        op = ops.FUNCTIONS.get(expr.func)
        if len(args) == 1 and expr.func in ops.REDUCERS:
            op = ops.REDUCERS[expr.func]
        if op is None:
            raise self.unknown_function(expr)
        self.check_arity(expr, op.arity, op.min_arity)
        return self.emit(OP, op, args, expr.span)

    def check_arity(self, expr: Call, arity: int | None, min_arity: int | None) -> None:
        given = len(expr.args)
        if arity is not None and given != arity:
            wanted = f"{arity} argument{'s' * (arity != 1)}"
        elif arity is None and given < min_arity:
            wanted = f"at least {min_arity} arguments"
        else:
            return
        raise ArityError(f"{expr.func}() takes {wanted}, but got {given}", self.source,
                         expr.span, hint=f"see `gradcalc functions` for {expr.func}")

    def unknown_function(self, expr: Call) -> UndefinedNameError:
        if expr.func == self.defining:
            return UndefinedNameError(
                f"gate '{expr.func}' calls itself; gates cannot be recursive",
                self.source, expr.func_span, hint="write the repeated steps out")
        if expr.func in self.names or expr.func in self.inputs or \
                (self.bound is not None and expr.func in self.bound):
            return UndefinedNameError(
                f"'{expr.func}' is a value, not a function", self.source, expr.func_span,
                hint=f"for a product write {expr.func}*(...)")
        import difflib  # here, not at the top: only this message needs it

        known = sorted(set(ops.FUNCTIONS) | set(self.gates))
        close = difflib.get_close_matches(expr.func, known, n=1)
        hint = f"did you mean {close[0]}?" if close else "see `gradcalc functions`"
        return UndefinedNameError(f"unknown function '{expr.func}'", self.source,
                                  expr.func_span, hint=hint)

    # -- names ----------------------------------------------------------------------
    def name(self, expr: Name) -> int:
        name = expr.id
        if name in self.names:
            return self.names[name]
        if name in self.gates:
            raise UndefinedNameError(f"'{name}' is a gate; call it as {name}(...)",
                                     self.source, expr.span)
        if name in self.inputs:
            return self.inputs[name]
        is_constant = name in ops.CONSTANTS
        if self.bound is None and not is_constant or self.bound is not None and name in self.bound:
            node = self.leaf(INPUT, "", name, expr.span)
            self.inputs[name] = node
            if is_constant:
                self.warnings.append((node, f"the binding {name}=... overrides the constant {name}"))
            return node
        if is_constant:
            return self.leaf(CONST, ops.CONSTANTS[name], name, expr.span)
        self.unbound.setdefault(name, expr.span)
        return self.leaf(INPUT, "", name, expr.span)  # a placeholder; reported later

    def fail_unbound(self):
        names = list(self.unbound)
        first = self.unbound[names[0]]
        listed = ", ".join(names)
        if self.defining is not None:
            raise UndefinedNameError(
                f"gate '{self.defining}' uses {listed}, which {'is' if len(names) == 1 else 'are'}"
                " not among its parameters", self.source, first,
                hint="a gate sees only its parameters; add them to its header")
        example = " ".join(f"{n}=..." for n in names)
        raise UndefinedNameError(
            f"no value for {'the name' if len(names) == 1 else 'the names'} {listed}",
            self.source, first, hint=f"bind every free name: {example}")

    # -- gates ------------------------------------------------------------------------
    def define_gate(self, definition: GateDef) -> None:
        name = definition.name
        if name in ops.FUNCTIONS:
            raise UndefinedNameError(f"'{name}' is a built-in function; a gate needs its own name",
                                     self.source, definition.name_span, hint=f"call it my_{name}")
        params = [p.id for p in definition.params]
        for param in definition.params:
            if param.id in self.gates or param.id == name:
                raise UndefinedNameError(
                    f"parameter '{param.id}' of gate '{name}' has the name of a gate",
                    self.source, param.span, hint="rename the parameter")
            if params.count(param.id) > 1:
                raise UndefinedNameError(f"gate '{name}' has two parameters named '{param.id}'",
                                         self.source, param.span)
        body = _Lowering(self.source, set(params), False, self.gates, self.limits)
        body.defining = name
        body.inputs = {}
        for param in definition.params:  # parameters are the body's inputs, in order
            body.inputs[param.id] = body.leaf(INPUT, "", param.id, param.span)
        graph = body.program([definition.body])
        inner = [node.op for node in graph.nodes if node.kind == GATE]
        size = len(graph.nodes) - len(inner) + sum(gate.size for gate in inner)
        nesting = 1 + max((gate.nesting for gate in inner), default=0)
        self.gates[name] = Gate(name, graph, tuple(params), size, nesting)

    def inline(self, gate: Gate, expr: Call, args: tuple[int, ...]) -> int:
        """--expand: copy the gate body's nodes in, its parameters wired to `args`, and the
        bodies of the gates it calls in turn (an explicit stack of bodies being copied).
        Bodies are kept collapsed, so only the program's own graph is ever expanded."""
        def frame(gate, args, slot):  # slot: the caller's node that the body's output is
            return gate, iter(gate.body.nodes), dict(zip(
                (gate.body.inputs[p] for p in gate.params), args)), slot
        frames = [frame(gate, args, None)]
        while True:
            gate, pending, mapping, slot = frames[-1]
            for inner in pending:
                if inner.id in mapping:
                    continue
                inputs = tuple(mapping[i] for i in inner.inputs)
                if inner.kind == GATE:
                    frames.append(frame(inner.op, inputs, inner.id))
                    break
                if inner.kind == CONST:
                    mapping[inner.id] = self.leaf(CONST, inner.text, inner.name, inner.span)
                else:
                    mapping[inner.id] = self.emit(inner.kind, inner.op, inputs, inner.span)
            else:
                frames.pop()
                if not frames:
                    return mapping[gate.body.output]
                frames[-1][2][slot] = mapping[gate.body.output]

    # -- node creation and the final numbering ------------------------------------------
    def leaf(self, kind: str, text: str, name: str | None, span: Span) -> int:
        self.size += 1
        if self.size > self.limits.nodes:
            raise self.too_many_nodes(span)
        self.nodes.append(Node(len(self.nodes), kind, None, (), span, name, text))
        return len(self.nodes) - 1

    def emit(self, kind: str, op, args: tuple[int, ...], span: Span) -> int:
        self.size += op.size if kind == GATE else 1  # a gate call costs its expanded body
        if self.size > self.limits.nodes:
            raise self.too_many_nodes(span)
        self.nodes.append(Node(len(self.nodes), kind, op, args, span))
        return len(self.nodes) - 1

    def too_many_nodes(self, span: Span):
        if not self.gates:
            return exceeded("nodes", f"the program has more than {self.limits.nodes:,} nodes",
                            self.source, span)
        return exceeded("nodes", f"the program has more than {self.limits.nodes:,} nodes "
                                 "with its gates expanded", self.source, span,
                        hint="a gate's body is computed at every call")

    def finish(self, output: int, roots) -> Graph:
        """Drop what the output does not use (with a warning), number inputs first."""
        used = [False] * len(self.nodes)
        used[output] = True
        for node in reversed(self.nodes):  # creation order is topological
            if used[node.id]:
                for i in node.inputs:
                    used[i] = True
        for node_id, statement in roots[:-1]:
            if not used[node_id]:
                text = self.source[statement.span[0]:statement.span[1]]
                self.warnings.append((None, f"'{text}' does not affect the output"))
        # A gate keeps all its parameters: its callers pass them by position.
        keep_inputs = self.defining is not None
        kept = [n for n in self.nodes if used[n.id] or keep_inputs and n.kind == INPUT]
        order = [n for n in kept if n.kind == INPUT] + [n for n in kept if n.kind != INPUT]
        new_id = {node.id: i for i, node in enumerate(order)}
        for node in order:
            node.id = new_id[node.id]
            node.inputs = tuple(new_id[i] for i in node.inputs)
            node.needs_grad = node.kind == INPUT or any(order[i].needs_grad for i in node.inputs)
        inputs = {n.name: n.id for n in order if n.kind == INPUT}
        warnings = [(None if w is None else new_id.get(w), m) for w, m in self.warnings]
        graph = Graph(self.source, order, new_id[output], inputs, warnings)
        graph.uses_arrays = any(node.op in ops.ARRAY_OPS for _, node in graph.walk())
        return graph


def _children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, Binary):
        return expr.left, expr.right
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, (Call, Array)):
        return expr.args if isinstance(expr, Call) else expr.items
    if isinstance(expr, Index):
        return (expr.target, *expr.indices)
    return ()


def _strip_parens(source: str, start: int, end: int) -> Span:
    """Drop the parentheses around a whole node's text: `(x+y)` is labelled `x+y`.
    Long texts are left alone: they are elided anyway, and the scan would cost O(n²)."""
    while end - start <= 256 and end - start >= 2 and source[start] == "(" and source[end - 1] == ")":
        depth = 0
        for i in range(start, end):
            depth += {"(": 1, ")": -1}.get(source[i], 0)
            if depth == 0 and i < end - 1:
                return start, end  # the first '(' closes early: `(a)*(b)`
        start, end = start + 1, end - 1
    return start, end
