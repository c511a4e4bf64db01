"""Number systems the op table computes in.

Every rule in gradcalc.ops is written once against the small namespace below
(`xp.exp`, `xp.where`, ...), so that the same rule can run on floats here and on
other number systems (exact rationals, arrays) that provide the same names.
"""
from __future__ import annotations

import math
from contextlib import nullcontext

INF = math.inf
_NOTHING = nullcontext()


class FloatArith:
    """IEEE-754 doubles with IEEE results where Python's math module raises instead.

    `math.exp(1000)` raises OverflowError, IEEE says inf; overflow is reported as a
    warning on the node (SPEC §1), so the functions here return inf and carry on.
    `ties` is the max/min tie policy: "split" (as PyTorch and JAX) or "first".
    """

    name = "float"

    def __init__(self, ties: str = "split"):
        self.ties = ties

    @staticmethod
    def quiet():
        """A context for one run; plain floats have no warnings to silence."""
        return _NOTHING

    @staticmethod
    def number(text: str) -> float:
        return float(text)

    @staticmethod
    def convert(value) -> float:
        """A Python number given through the API or a JSON file."""
        return float(value)

    @staticmethod
    def zero(like):
        return 0.0

    @staticmethod
    def show(value) -> str:
        """A value for a message: shortest round-trip form, '-2' rather than '-2.0'."""
        return repr(value)[:-2] if float(value).is_integer() and abs(value) < 1e16 else repr(value)

    @staticmethod
    def is_exact(value) -> bool:
        return False

    @staticmethod
    def exp(a):
        try:
            return math.exp(a)
        except OverflowError:
            return INF

    @staticmethod
    def log(a):
        return math.log(a)

    @staticmethod
    def sqrt(a):
        return math.sqrt(a)

    # IEEE: sin(±inf) is nan (math.sin raises ValueError instead).
    @staticmethod
    def sin(a):
        return math.sin(a) if math.isfinite(a) else math.nan

    @staticmethod
    def cos(a):
        return math.cos(a) if math.isfinite(a) else math.nan

    @staticmethod
    def tan(a):
        return math.tan(a) if math.isfinite(a) else math.nan

    tanh = staticmethod(math.tanh)

    @staticmethod
    def sigmoid(a):
        # Two forms so that neither exp() overflows: exact to the last digit at ±700.
        if a >= 0:
            return 1.0 / (1.0 + math.exp(-a))
        z = math.exp(a)
        return z / (1.0 + z)

    @staticmethod
    def softplus(a):
        # log(1 + e^a) without overflow: max(a, 0) + log1p(e^-|a|).
        return max(a, 0.0) + math.log1p(math.exp(-abs(a)))

    @staticmethod
    def power(a, b):
        try:
            return math.pow(a, b)
        except OverflowError:
            negative = a < 0 and float(b).is_integer() and int(b) % 2 == 1
            return -INF if negative else INF
        except (ValueError, ZeroDivisionError):
            # 0 to a negative power (the only case the domain check lets through
            # is inside a derivative, e.g. d/da a^0.5 at a = 0): an infinite slope.
            return INF

    @staticmethod
    def divide(a, b):
        """a / b, with a slope's IEEE answer at b = 0 (used only in derivatives)."""
        try:
            return a / b
        except ZeroDivisionError:
            return math.nan if a == 0 else math.copysign(INF, a) * math.copysign(1.0, b)

    # NaN wins, as in numpy's maximum and IEEE 754-2019's maximum (Python's max keeps its
    # first argument: max(nan, 1) is nan but max(1, nan) is 1).
    @staticmethod
    def max(args):
        return math.nan if any(a != a for a in args) else max(args)

    @staticmethod
    def min(args):
        return math.nan if any(a != a for a in args) else min(args)

    @staticmethod
    def sign(a):
        return (a > 0) - (a < 0)

    @staticmethod
    def where(condition, if_true, if_false):
        return if_true if condition else if_false

    # The engine asks these of every node: the C functions themselves, not wrappers.
    all = staticmethod(bool)
    isfinite = staticmethod(math.isfinite)

    @staticmethod
    def is_integer(a) -> bool:
        return float(a).is_integer()


class ExactSizeError(ArithmeticError):
    """An exact result that would have more digits than --max-digits allows."""

    def __init__(self, digits: float, limit: int):
        size = f"about {round(digits):,}" if digits < 1e15 else "more than 10^15"
        super().__init__(f"the exact result would have {size} digits "
                         f"(over --max-digits {limit:,})")
