"""mpmath at 50 digits as a number system for the op table: the oracle of tests/test_accuracy.

`MP` has the names of gradcalc.arith.FloatArith, computed by mpmath, so that any entry of
the table runs on it: `op.forward(MP, *args)` is the op's exact value (to 50 digits) at the
same arguments, and `derivative` differentiates it numerically at that precision (a
step relative to the argument, far below float resolution, with 50 digits to spare), not
from the op's own `local` rule. mpmath has no overflow: exp(1000) is a number here.
"""
import contextlib
import math

import mpmath

mp = mpmath.mp
mp.dps = 50

SMALLEST_NORMAL = 2.2250738585072014e-308


class MpArith:
    name = "mpmath"
    ties = "split"

    @staticmethod
    def quiet():
        return contextlib.nullcontext()

    @staticmethod
    def is_exact(value):
        return False

    @staticmethod
    def show(value):
        return str(value)

    @staticmethod
    def number(text):
        return mpmath.mpf(text)

    convert = number

    @staticmethod
    def zero(like):
        return mpmath.mpf(0)

    exp = staticmethod(mpmath.exp)
    log = staticmethod(mpmath.log)
    log10 = staticmethod(mpmath.log10)

    @staticmethod
    def log2(a):
        return mpmath.log(a, 2)

    sqrt = staticmethod(mpmath.sqrt)
    sin = staticmethod(mpmath.sin)
    cos = staticmethod(mpmath.cos)
    tan = staticmethod(mpmath.tan)
    tanh = staticmethod(mpmath.tanh)

    @staticmethod
    def sigmoid(a):
        return 1 / (1 + mpmath.exp(-a))

    @staticmethod
    def softplus(a):
        return mpmath.log1p(mpmath.exp(a))

    @staticmethod
    def power(a, b):
        return mpmath.power(a, b)

    @staticmethod
    def divide(a, b):
        return a / b

    max = staticmethod(max)
    min = staticmethod(min)

    @staticmethod
    def sign(a):
        return mpmath.sign(a)

    @staticmethod
    def where(condition, if_true, if_false):
        return if_true if condition else if_false

    all = staticmethod(bool)

    @staticmethod
    def isfinite(a):
        return mpmath.isfinite(a)

    @staticmethod
    def is_integer(a):
        return mpmath.isint(a)


MP = MpArith()


def derivative(function, args, k):
    """∂function/∂args[k] to 45 digits by central differences in mpmath: the step is 1e-30
    of the argument (absolute past 1, where a function may vary on a scale of 1), and the
    working precision doubles until two answers agree (a derivative far smaller than the
    function, as tanh' at 90, needs the digits of both)."""
    args = [mpmath.mpf(a) for a in args]
    x = args[k]
    scale = sum(abs(int(mpmath.log10(abs(a)))) if a != 0 else 330 for a in args)
    h = mpmath.mpf(10) ** -30 * min(abs(x), 1) if x != 0 else mpmath.mpf(10) ** -330
    digits, previous = 100 + 2 * scale, None
    while True:
        with mpmath.workdps(digits):
            up = function(*args[:k], x + h, *args[k + 1:])
            down = function(*args[:k], x - h, *args[k + 1:])
            slope = (up - down) / (2 * h)
        # Two zeros may both be too few digits (tanh' at 210 is 1e-183): a zero only
        # counts at a precision past any float's range of magnitudes.
        if previous is not None and (slope != 0 or digits > 1500) and mpmath.almosteq(
                slope, previous, rel_eps=mpmath.mpf(10) ** -45, abs_eps=0):
            return +slope
        if digits > 20_000:
            raise ArithmeticError(f"no stable derivative at {args}, argument {k}")
        digits, previous = 2 * digits, slope


def ulps(got: float, truth) -> float:
    """How far a float is from the true value, in units of the last place of the float
    nearest the truth; 0 where both are the same infinity. A truth below the normal range
    is measured in units of the smallest normal (its digits are gone in any float)."""
    if isinstance(truth, mpmath.mpc):
        return 0.0 if math.isnan(got) else math.inf  # not a real number: nan is right
    if mpmath.isnan(truth) or math.isnan(got):
        return 0.0 if mpmath.isnan(truth) and math.isnan(got) else math.inf
    nearest = float(truth)  # ±inf past the float range
    if math.isinf(nearest) or math.isinf(got):
        return 0.0 if got == nearest else math.inf
    unit = math.ulp(nearest) if abs(nearest) >= SMALLEST_NORMAL else SMALLEST_NORMAL
    return float(abs(mpmath.mpf(got) - truth) / unit)
