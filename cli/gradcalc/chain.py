"""The chain rule on one edge (∂f/∂arg gets ∂f/∂out · ∂out/∂arg), and which zeros are
structural.

IEEE says 0 · inf is nan, and that is the truth when a zero was computed: log(1+exp(x)) at
x = 1000 has ∂f/∂exp(x) = 1/inf = 0, exp's local gradient is inf, and the real derivative
(1) is lost; sqrt(x)·sqrt(x) at 0 has two branches whose 0 · inf have no value. Only a zero
that is a *selection* (the loser of max, relu's off side, an element an index does not
pick: ops with `structural=True`) means that nothing passes, and only nothing times
anything is 0. So every gradient travels with `live`: where some path from the output
reaches the node through edges that pass (a bool, or a bool array of the node's shape).

- An edge passes where its node is live and its local gradient is not a structural zero;
  it contributes upstream × local there, with IEEE arithmetic, and exactly 0 elsewhere.
- A nan made on a passing edge from two numbers that are not nan (0 · inf, inf · 0) is
  reported with a warning that says which node and why.

The engine's scalar loop inlines the same rule for speed (gradcalc.run.backward).
"""
from __future__ import annotations


def through_local(xp, upstream, live, slope, blocked):
    """One edge with a local gradient: (contribution, passes, fresh nan).

    `live` is where the node is reached, `blocked` where this edge passes nothing (False,
    or a bool array); all three results have the broadcast shape of the operands, not yet
    summed back to the argument's shape (see `into`)."""
    passes = live if blocked is False else xp.where(blocked, False, live)
    product = upstream * slope
    fresh = passes & (product != product) & (upstream == upstream) & (slope == slope)
    if passes is True:  # the common case, without a pass over the elements
        return product, True, fresh
    return xp.where(passes, product, xp.zero(0.0)), passes, fresh


def blocked_by(op, slope):
    """Where an edge of `op` with local gradient `slope` passes nothing."""
    return slope == 0 if op.structural else False


def through_vjp(xp, op, upstream, live, out, args, wanted):
    """An array op's edges: (contributions, passes, fresh nan) with one contribution and one
    `passes` per argument (None for an argument that takes no gradient). A structural op's
    vjp of the live indicator says which elements are reached; any other op reaches every
    element of an argument if its output is live anywhere. `fresh` says whether the vjp
    made a nan from operands that had none. `wanted` says, per argument, whether its
    gradient is needed: an op whose vjp can leave the others undone does."""
    options = {"wanted": wanted} if op.vjp_wanted else {}
    contributions = op.vjp(xp, upstream, out, *args, **options)
    if op.structural:
        reach = op.vjp(xp, xp.where(live, 1.0, 0.0) + xp.zero(out), out, *args, **options)
        passes = [None if r is None else r != 0 for r in reach]
        contributions = [None if c is None else xp.where(p, c, xp.zero(0.0))
                         for c, p in zip(contributions, passes)]
    else:
        passes = [True] * len(contributions)
    fresh = any(c is not None and any_of(c != c) for c in contributions) and not any(
        any_of(value != value) for value in (upstream, out, *args))
    return contributions, passes, fresh


def into(xp, passes, arg):
    """Where an argument is reached through an edge whose `passes` has the operands'
    broadcast shape: any element that was broadcast from it passes."""
    if getattr(passes, "shape", ()) == getattr(arg, "shape", ()):
        return passes
    return xp.unbroadcast(xp.where(passes, 1.0, 0.0), arg) != 0


def any_of(condition) -> bool:
    """Whether a condition holds anywhere (a bool, or a bool array)."""
    return bool(condition.any()) if hasattr(condition, "any") else bool(condition)


def undefined(xp, upstream, slope, fresh, node: str, arg: str) -> str:
    """The warning for a nan that an edge made from two numbers: which product and why."""
    if getattr(fresh, "shape", ()):
        count = int(fresh.sum())
        where = f" at {count} element{'s' * (count != 1)}"
        zero_upstream = bool((xp.where(fresh, upstream, 1.0) == 0).any())
    else:
        where, zero_upstream = "", upstream == 0
    node, arg = _wrapped(node), _wrapped(arg)
    if zero_upstream:
        product = "0 · inf"
        why = (f"∂f/∂{node} is a computed 0 (from an overflow, an underflow, a factor 0 or "
               f"branches that cancel), not a branch that passes nothing, and ∂{node}/∂{arg} "
               "is infinite")
    else:
        product = "inf · 0"
        why = (f"∂f/∂{node} is infinite and ∂{node}/∂{arg} is a computed 0, not a branch "
               "that passes nothing")
    return f"{product} in the chain rule{where}: {why}; so the gradient through {arg} is nan"


def _wrapped(label: str) -> str:
    return label if label.isidentifier() else f"({label})"


def undefined_vjp(node: str) -> str:
    return f"the chain rule through {node} made nan from numbers that are not nan " \
           "(inf · 0 inside its vector-Jacobian product); the gradient through it is nan"
