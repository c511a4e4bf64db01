"""Stage 2, lower: AST → graph nodes in topological (forward) order.

Walks the AST with an explicit stack, never recursion, so a 20,000-deep nesting lowers
like a flat one. Resolves names (assignments, inputs, the constants pi and e, gates),
checks calls against the op table, and numbers the nodes inputs first (the table's order).
Enforces the nesting-depth and node-count limits (gradcalc.limits) as it goes, so an
oversized program stops before it is built.
"""
from __future__ import annotations

from . import collector, ops
from .errors import ArityError, LimitError, ShapeError, UndefinedNameError
from .frozen import Frozen
from .limits import DEFAULT, MAX_GATE_NESTING, Limits, exceeded
from .syntax import (Array, Assign, Binary, Call, Expr, GateDef, Index, Keyword, Name, Number,
                     Program, Slice, Span, Tuple, Unary)

INPUT, CONST, OP, GATE = "input", "const", "op", "gate"


# Node, Graph and Gate are plain classes rather than dataclasses, which compile their
# methods when the module is imported, on every start of the command (see gradcalc.syntax).
class Node:
    __slots__ = ("id", "kind", "op", "inputs", "span", "name", "text", "needs_grad",
                 "keyword_spans", "gate")

    def __init__(self, id: int, kind: str, op: object, inputs: tuple[int, ...],  # noqa: A002
                 span: Span, name: str | None = None, text: str = "",
                 needs_grad: bool = False, keyword_spans: dict | None = None,
                 gate: str | None = None):
        self.id = id
        self.kind = kind  # INPUT, CONST, OP or GATE
        self.op = op  # an ops.Op, a Gate, or None for leaves
        self.inputs = inputs
        self.span = span
        self.name = name  # an input's name, a constant's (pi), or an assigned name
        self.text = text  # a constant's literal
        self.needs_grad = needs_grad  # depends on some input, so ∂output/∂node is computed
        self.keyword_spans = keyword_spans  # where each static attribute (axis=1) is written
        self.gate = gate  # --expand: the user gate whose body this node was copied from

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
        self.constant_inputs = frozenset()  # inputs that take no gradient (integer arrays)

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
        the labels of a 100,000-term sum must not cost O(n²)); a node copied from a gate's
        body by --expand says which gate (`f: a*b`), since its text names the parameters."""
        if node.name is not None:
            return node.name
        start, end = _strip_parens(self.source, *node.span)
        if end - start > width:
            half = width // 2 - 1
            head = " ".join(self.source[start:start + half].split())
            tail = " ".join(self.source[end - half:end].split())
            text = f"{head}…{tail}"
        else:
            text = " ".join(self.source[start:end].split())
        return text if node.gate is None else f"{node.gate}: {text}"


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
        if isinstance(expr, (Array, Tuple)):
            return self.emit(OP, ops.ARRAY, args, expr.span)
        if isinstance(expr, Index):
            self.refuse_mask_index(expr, args[1:])
            return self.emit(OP, ops.INDEX.bind(spec=_index_spec(expr)), args, expr.span)
        return self.call(expr, args)

    def refuse_mask_index(self, expr: Index, indices: tuple[int, ...]) -> None:
        """numpy reads `x[x > 0]` as a boolean mask (the elements where it holds); here a
        comparison is 1.0/0.0 numbers, which as an index would pick elements 0 and 1."""
        for index in indices:
            node = self.nodes[index]
            if node.kind != OP or getattr(node.op, "family", None) != "comparison":
                continue
            inside = expr.span[0] <= node.span[0] and node.span[1] <= expr.span[1]
            target = self.source[expr.target.span[0]:expr.target.span[1]]
            mask = self.source[node.span[0]:node.span[1]]
            raise ShapeError(
                "a comparison as an index: numpy reads it as a mask that picks the elements "
                "where it holds; gradcalc's comparisons are 1.0/0.0 numbers, which as an "
                "index would pick elements 0 and 1", self.source,
                node.span if inside else expr.span,
                hint=f"multiply by the mask instead: {target} * ({mask}) is {target} where "
                     "it holds and 0 elsewhere")

    def call(self, expr: Call, args: tuple[int, ...]) -> int:
        keywords = [arg for arg in expr.args if isinstance(arg, Keyword)]
        positional = len(args)
        gate = self.gates.get(expr.func)
        if gate is not None:
            if keywords:
                raise ArityError(f"gate '{gate.name}' takes no keyword arguments",
                                 self.source, keywords[0].span,
                                 hint=f"call it as {gate.name}({', '.join(gate.params)})")
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
        if positional == 1 and expr.func in ops.REDUCERS:
            op = ops.REDUCERS[expr.func]
        if op is None:
            raise self.unknown_function(expr)
        if op.sequence:
            self.check_sequence(expr)
        self.refuse_positional_axis(expr, op, positional)
        self.check_arity(expr, op.arity, op.min_arity, positional)
        attrs = self.static_attributes(expr, op, keywords)
        spans = {keyword.name: keyword.span for keyword in keywords} or None
        return self.emit(OP, op.bind(**attrs), args, expr.span, spans)

    def refuse_positional_axis(self, expr: Call, op, positional: int) -> None:
        """numpy reads a second positional argument of a reduction as the axis: `S.sum(1)`,
        and `np.max(S, 1)` or `S.max(1)`, where gradcalc's `max(S, 1)` is elementwise (the
        lecture's max(0, x)). Rather than guess, ask for the keyword."""
        func = expr.func
        numpy_spelling = "." in self.source[expr.span[0]:expr.func_span[1]]
        reduction = op.arity == 1 and "axis" in op.keywords  # not concatenate([a, b])
        extra = positional == 2 and (reduction or func in ops.REDUCERS and numpy_spelling)
        if not extra:
            return
        target, axis = (self.source[slice(*arg.span)] for arg in expr.args[:2])
        fix = f"write {func}({target}, axis={axis}) for the axis"
        if func in ops.REDUCERS:
            fix += f", or {func}({target}, {axis}) for the elementwise {func}"
        raise ArityError(f"numpy reads the second argument of {func}() as the axis, and "
                         "gradcalc takes the axis only as a keyword", self.source,
                         expr.args[1].span, hint=fix)

    def static_attributes(self, expr: Call, op, keywords: list[Keyword]) -> dict:
        """`axis=1, keepdims=True` as constants, each a keyword the op takes."""
        attrs = {}
        for keyword in keywords:
            if keyword.name not in op.keywords and expr.func in ops.REDUCERS:
                raise ArityError(
                    f"{expr.func}() of several arguments is elementwise and takes no "
                    f"keyword '{keyword.name}'", self.source, keyword.name_span,
                    hint=f"over an axis give one argument: {expr.func}(S, axis=1)")
            if keyword.name not in op.keywords:
                taken = ", ".join(f"{name}=" for name in op.keywords)
                numpy_name = _TORCH_KEYWORDS.get(keyword.name)
                hint = f"the keywords of {expr.func}() are {taken}" if taken else \
                    f"{expr.func}() takes no keywords; see `gradcalc functions`"
                if numpy_name in op.keywords:
                    value = self.source[slice(*keyword.value.span)]
                    hint = f"write {numpy_name}={value} (numpy's name for PyTorch's " \
                           f"{keyword.name}=)"
                raise ArityError(f"{expr.func}() takes no keyword '{keyword.name}'",
                                 self.source, keyword.name_span, hint=hint)
            attrs[keyword.name] = _constant(keyword.value, self.source)
        return attrs

    def check_sequence(self, expr: Call) -> None:
        """concatenate([a, b], axis=1): one list (or tuple) of arrays, then keywords."""
        first, *rest = expr.args or (None,)
        extra = [arg for arg in rest if not isinstance(arg, Keyword)]
        if isinstance(first, (Array, Tuple)) and not extra:
            return
        span = extra[0].span if extra and isinstance(first, (Array, Tuple)) else expr.span
        raise ArityError(f"{expr.func}() takes one list of arrays, then keywords",
                         self.source, span, hint=self.sequence_fix(expr))

    def sequence_fix(self, expr: Call) -> str:
        """`concatenate([a, b], 1)` → `concatenate([a, b], axis=1)`; `concatenate(a, b)` →
        `concatenate([a, b], axis=0)`: the call as written, its arrays in one list."""
        text = [self.source[slice(*arg.span)] for arg in expr.args]
        keywords = [t for t, arg in zip(text, expr.args) if isinstance(arg, Keyword)]
        items = [t for t, arg in zip(text, expr.args) if not isinstance(arg, Keyword)]
        listed = bool(items) and isinstance(expr.args[0], (Array, Tuple))
        if listed and len(items) == 2 and not keywords:
            fixed = f"{expr.func}({items[0]}, axis={items[1]})"
        elif not listed:
            fixed = f"{expr.func}([{', '.join(items)}], {', '.join(keywords) or 'axis=0'})"
        else:
            fixed = f"{expr.func}([a, b], axis=0)"
        return f"write {fixed}: the arrays in one list, the axis as a keyword"

    def check_arity(self, expr: Call, arity: int | None, min_arity: int | None,
                    given: int | None = None) -> None:
        given = len(expr.args) if given is None else given
        if arity is not None and given != arity:
            wanted = f"{arity} argument{'s' * (arity != 1)}"
        elif arity is None and given < min_arity:
            wanted = f"at least {min_arity} arguments"
        else:
            return
        gate = self.gates.get(expr.func)
        if gate is not None:  # not in `gradcalc functions`: its own header says it
            hint = f"{expr.func} is your gate {expr.func}({', '.join(gate.params)}), " \
                   "defined in this program: call it with one value per parameter"
        else:
            from . import hints  # the error path only

            arguments = [self.source[a.span[0]:a.span[1]] for a in expr.args]
            hint = hints.arity(expr.func, arguments) or \
                f"see `gradcalc functions` for {expr.func}"
        raise ArityError(f"{expr.func}() takes {wanted}, but got {given}", self.source,
                         expr.span, hint=hint)

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
        from . import hints  # here, not at the top: only this message needs it

        arguments = [self.source[a.span[0]:a.span[1]] for a in expr.args]
        hint, whole_call = hints.unknown_function(expr.func, arguments,
                                                  set(ops.FUNCTIONS) | set(self.gates))
        return UndefinedNameError(f"unknown function '{expr.func}'", self.source,
                                  expr.span if whole_call else expr.func_span, hint=hint)

    # -- names ----------------------------------------------------------------------
    def name(self, expr: Name) -> int:
        name = expr.id
        if name == "None" and name not in (self.bound or ()):
            raise UndefinedNameError("None is a new axis inside an index (c[:, None]), "
                                     "not a value", self.source, expr.span,
                                     hint="write c[:, None] to add an axis")
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
        self.fail_notation(names)
        first = self.unbound[names[0]]
        listed = ", ".join(names)
        if self.defining is not None:
            raise UndefinedNameError(
                f"gate '{self.defining}' uses {listed}, which {'is' if len(names) == 1 else 'are'}"
                " not among its parameters", self.source, first,
                hint="a gate sees only its parameters; add them to its header")
        example = " ".join(f"{n}=..." for n in names)
        error = UndefinedNameError(
            f"no value for {'the name' if len(names) == 1 else 'the names'} {listed}",
            self.source, first, hint=f"bind every free name: {example}")
        error.unbound = tuple(names)
        raise error

    def fail_notation(self, names: list[str]) -> None:
        """A free name that is a function used as a value (`sin*x`), or the T of `w^T`."""
        from . import hints

        for name in names:
            span = self.unbound[name]
            if name in ops.FUNCTIONS:
                raise UndefinedNameError(
                    f"'{name}' is a function, not a value", self.source, span,
                    hint=f"call it with its argument in parentheses: {name}(...)")
            transposed = hints.transpose_name(self.source, span) if name == "T" else None
            if transposed is not None:
                where, matrix = transposed
                raise UndefinedNameError(
                    f"{matrix}^T is a transpose written as a superscript", self.source, where,
                    hint=f"write `transpose({matrix})`")

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
                    mapping[inner.id] = self.emit(inner.kind, inner.op, inputs, inner.span,
                                                  inner.keyword_spans)
                self.nodes[mapping[inner.id]].gate = gate.name
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

    def emit(self, kind: str, op, args: tuple[int, ...], span: Span,
             keyword_spans: dict | None = None) -> int:
        self.size += op.size if kind == GATE else 1  # a gate call costs its expanded body
        if self.size > self.limits.nodes:
            raise self.too_many_nodes(span)
        self.nodes.append(Node(len(self.nodes), kind, op, args, span,
                               keyword_spans=keyword_spans))
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
        _mark_needs_grad(order, new_id[output], keep_inputs)
        inputs = {n.name: n.id for n in order if n.kind == INPUT}
        warnings = [(None if w is None else new_id.get(w), m) for w, m in self.warnings]
        graph = Graph(self.source, order, new_id[output], inputs, warnings)
        graph.uses_arrays = any(getattr(node.op, "base", None) in ops.ARRAY_OPS
                                for _, node in graph.walk())
        return graph


def mark_needs_grad(graph: Graph, constant_inputs) -> None:
    """Mark again which nodes need a gradient, the inputs named in `constant_inputs`
    (integer arrays: labels, indices) taking none, as an integer tensor in PyTorch."""
    constant_inputs = frozenset(constant_inputs)
    if constant_inputs != graph.constant_inputs:
        _mark_needs_grad(graph.nodes, graph.output, False, constant_inputs)
        graph.constant_inputs = constant_inputs
        graph.plan = None  # the run's plan reads needs_grad: make it again


def _mark_needs_grad(order: list[Node], output: int, keep_inputs: bool,
                     constant_inputs=()) -> None:
    """A node needs ∂output/∂node when it depends on an input through arguments that take
    a gradient; an input used only as an index, a label or a shape takes none (its
    gradient shows as —), unless it is the output itself or a gate's parameter. An input
    named in `constant_inputs` takes none at all."""
    differentiable = [False] * len(order)
    differentiable[output] = True
    for node in reversed(order):  # from the output back: `N` in reshape(x, (N, -1)) takes none
        if differentiable[node.id]:
            skip = getattr(node.op, "constant_args", ())
            for position, i in enumerate(node.inputs):
                if position not in skip:
                    differentiable[i] = True
    for node in order:
        if node.kind == INPUT:
            node.needs_grad = (differentiable[node.id] or keep_inputs) \
                and node.name not in constant_inputs
        else:
            skip = getattr(node.op, "constant_args", ())
            node.needs_grad = any(order[i].needs_grad for position, i in enumerate(node.inputs)
                                  if position not in skip)


def _children(expr: Expr) -> tuple[Expr, ...]:
    if isinstance(expr, Binary):
        return expr.left, expr.right
    if isinstance(expr, Unary):
        return (expr.operand,)
    if isinstance(expr, Call):
        args = expr.args
        if args and isinstance(args[0], (Array, Tuple)) and ops.takes_sequence(expr.func):
            args = (*args[0].items, *args[1:])  # concatenate([a, b], axis=1)
        return tuple(arg for arg in args if not isinstance(arg, Keyword))
    if isinstance(expr, (Array, Tuple)):
        return expr.items
    if isinstance(expr, Index):
        parts = [expr.target]
        for index in expr.indices:
            if isinstance(index, Slice):
                parts += [part for part in (index.start, index.stop, index.step) if part]
            elif not _is_new_axis(index):
                parts.append(index)
        return tuple(parts)
    return ()


def _is_new_axis(index) -> bool:
    return isinstance(index, Name) and index.id == "None"


def _index_spec(expr: Index) -> tuple:
    """How the index's arguments make numpy's key: per index "i" (an integer or an integer
    array argument), "n" (None, a new axis), or ("s", start?, stop?, step?) saying which
    parts of a slice are given (each given part is the next argument)."""
    spec = []
    for index in expr.indices:
        if isinstance(index, Slice):
            spec.append(("s", index.start is not None, index.stop is not None,
                         index.step is not None))
        else:
            spec.append("n" if _is_new_axis(index) else "i")
    return tuple(spec)


_LITERALS = {"True": True, "False": False, "None": None}
_TORCH_KEYWORDS = {"dim": "axis", "keepdim": "keepdims"}  # PyTorch's names, numpy's here


def _constant(expr: Expr, source: str):
    """A keyword's value: a number, True/False/None or a tuple of them, known when the
    program is lowered (a static attribute: `axis=1`, `keepdims=True`, `axis=(0, 1)`)."""
    if isinstance(expr, Tuple):
        return tuple(_constant(item, source) for item in expr.items)
    sign = 1
    if isinstance(expr, Unary) and isinstance(expr.operand, Number):
        sign, expr = (-1 if expr.op == "-" else 1), expr.operand
    if isinstance(expr, Number):
        value = float(expr.text)
        return sign * int(value) if value.is_integer() and abs(value) < 2 ** 53 else sign * value
    if isinstance(expr, Name) and expr.id in _LITERALS and sign == 1:
        return _LITERALS[expr.id]
    raise ArityError("a keyword's value must be a constant: a number, True, False, None or "
                     "a tuple such as (0, 1)", source, expr.span,
                     hint="write the number itself, e.g. axis=1")


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
