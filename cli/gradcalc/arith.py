"""Number systems the op table computes in.

Every rule in gradcalc.ops is written once against the small namespace below
(`xp.exp`, `xp.where`, ...), so that the same rule can run on floats here and on
other number systems (exact rationals, arrays) that provide the same names.
"""
from __future__ import annotations

import math
from contextlib import nullcontext

INF = math.inf
SMALLEST_NORMAL = 2.2250738585072014e-308  # below it a float loses digits (subnormal)
_NOTHING = nullcontext()


class FloatArith:
    """IEEE-754 doubles with IEEE results where Python's math module raises instead.

    `math.exp(1000)` raises OverflowError, IEEE says inf; overflow is reported as a
    warning on the node (README, "Kinks and domains"), so the functions here return inf and carry on.
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

    log10 = staticmethod(math.log10)
    log2 = staticmethod(math.log2)

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
    def sigmoid_slope(out, a):
        """σ'(a) given out = σ(a), to a few ulps for every a. σ(1 - σ) is exact enough where
        σ ≤ 1/2 (1 - σ has no cancellation there); past it 1 - σ loses its digits (all of
        them from a ≈ 37), and σ(a)·σ(-a) = z/(1+z)² with z = e^-|a| ≤ 1 keeps them."""
        if out <= 0.5:
            return out * (1.0 - out)
        z = math.exp(-abs(a))
        return z / ((1.0 + z) * (1.0 + z))

    @staticmethod
    def tanh_slope(out, a):
        """tanh'(a) given out = tanh(a), to a few ulps for every a: 1 - tanh² where |tanh| < 1/2,
        else 4/(eᵃ + e⁻ᵃ)² = 4z/(1+z)² with z = e^-2|a| (1 - tanh² cancels to 0 past a ≈ 19)."""
        if -0.5 < out < 0.5:
            return 1.0 - out * out
        z = math.exp(-2.0 * abs(a))
        return 4.0 * z / ((1.0 + z) * (1.0 + z))

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
    def power_slope(out, a, b):
        """∂(a^b)/∂a = b·a^(b-1), given out = a^b: as b·(a^b/a), since b - 1 rounds (which
        costs a^(b-1) up to |ln a| ulps) and a^b/a loses nothing. Where a^b is 0, inf or
        subnormal, or a is 0, b·a^(b-1) itself; where that overflows while the slope need
        not (a and b both tiny), (b·a^b)/a."""
        if a != 0 and SMALLEST_NORMAL <= abs(out) < INF:
            slope = b * (out / a)
            if abs(slope) < INF:
                return slope
        slope = b * FloatArith.power(a, b - 1)
        if abs(slope) == INF and a != 0:
            return FloatArith.divide(b * out, a)
        return slope

    @staticmethod
    def divide(a, b):
        """a / b, with a slope's IEEE answer at b = 0 (used only in derivatives)."""
        try:
            return a / b
        except ZeroDivisionError:
            return math.nan if a == 0 else math.copysign(INF, a) * math.copysign(1.0, b)

    # IEEE 754-2019's maximum and minimum: NaN wins (Python's max keeps its first
    # argument: max(nan, 1) is nan but max(1, nan) is 1), and -0 < +0, so max(-0.0, 0.0) is
    # 0.0 in either order, as the array path gives (gradcalc.arrays).
    @staticmethod
    def max(args):
        if any(a != a for a in args):
            return math.nan
        winner = max(args)
        if winner == 0 and any(a == 0 and math.copysign(1.0, a) > 0 for a in args):
            return 0.0
        return winner

    @staticmethod
    def min(args):
        if any(a != a for a in args):
            return math.nan
        winner = min(args)
        if winner == 0 and any(a == 0 and math.copysign(1.0, a) < 0 for a in args):
            return -0.0
        return winner

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
