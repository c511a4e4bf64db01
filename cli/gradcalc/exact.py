"""Exact rational arithmetic for --exact: a number system with the names of
gradcalc.arith.FloatArith over Python's fractions.

A module of its own, imported only under --exact, so that every other run does not pay
for importing fractions and decimal.
"""
from __future__ import annotations

import math
import sys
from fractions import Fraction
from contextlib import contextmanager
from functools import lru_cache

from .arith import INF, ExactSizeError, FloatArith
from .limits import DEFAULT, exceeded

LOG10_2 = math.log10(2)
# The digits of all the exact results of one pass, in all: each digit costs time (a
# product of two 4,000-digit numbers about half a millisecond) and memory, and a long
# chain of numbers each within --max-digits must not run for minutes (about 10 s here).
MAX_EXACT_WORK = 50_000_000
MAX_EXACT_WORK_BITS = round(MAX_EXACT_WORK / LOG10_2)


class ExactWorkError(ExactSizeError):
    """The exact results of one pass would hold more than MAX_EXACT_WORK digits."""

    def __init__(self):
        ArithmeticError.__init__(self, f"the exact numbers computed so far hold more than "
                                       f"{MAX_EXACT_WORK:,} digits in all, the most one "
                                       "pass computes under --exact")


class ExactArith(FloatArith):
    """Rational arithmetic (--exact): `0.1` is 1/10 and answers print as `-4` or `1/3`.

    +, -, *, / and integer powers stay rational. What cannot (exp, log, trig, the root of a
    non-square) falls back to a float; run.forward marks and warns about such nodes.

    Rationals can grow without bound (squaring doubles the digits), so every one is kept
    to `max_digits` digits in its numerator and denominator (--max-digits): past it, an
    operation raises ExactSizeError at once. Integer powers and number literals are
    size-checked before they are computed: 2^10^10 and 1e999999 are clear errors, not a
    hung process.
    """

    name = "exact"

    def __init__(self, ties: str = "split", max_digits: int = DEFAULT.digits):
        super().__init__(ties)
        self.max_digits = max_digits
        self.rational = _bounded_rational(max_digits)
        self._depth = 0  # passes entered (gates run passes inside a pass)
        # Python refuses to turn an int of more than 4,300 digits into text unless told
        # to; a raised limit must still print (a process-wide setting, only ever raised).
        current = getattr(sys, "get_int_max_str_digits", lambda: 0)()
        if current and current < max_digits + 2:
            sys.set_int_max_str_digits(max_digits + 2)

    @contextmanager
    def quiet(self):
        """One pass (forward or backward, the passes of gates inside it included): the
        digits of all its exact results are counted against MAX_EXACT_WORK."""
        if self._depth == 0:
            self.rational.work[0] = 0
        self._depth += 1
        try:
            yield
        finally:
            self._depth -= 1

    def number(self, text: str):
        digits = literal_digits(text)
        if digits > self.max_digits:
            raise exceeded("digits", f"the number {text} would have about {digits:,} digits "
                                     f"under --exact, over the limit of {self.max_digits:,}",
                           hint="drop --exact to compute in floating point")
        return self.rational(text)

    def convert(self, value):
        if isinstance(value, float):
            return self.number(repr(value))  # 0.1 means 1/10, not the nearest double
        return self.rational.adopt(Fraction(value))

    def zero(self, like):
        return self.rational(0)

    @staticmethod
    def show(value) -> str:
        return str(value) if isinstance(value, Fraction) else FloatArith.show(value)

    @staticmethod
    def is_exact(value) -> bool:
        return isinstance(value, Fraction)

    def sqrt(self, a):
        if isinstance(a, Fraction) and a >= 0:
            num, den = math.isqrt(a.numerator), math.isqrt(a.denominator)
            if num * num == a.numerator and den * den == a.denominator:
                return self.rational(num, den)
        return math.sqrt(_float(a))

    def power(self, a, b):
        """a^b, rational where it is: an integer b, or b = p/q with a ≥ 0 a perfect q-th power
        (4^(1/2) = 2, (8/27)^(2/3) = 4/9); else the float power."""
        if isinstance(a, Fraction) and isinstance(b, Fraction):
            base = a if b.denominator == 1 else _exact_root(a, b.denominator)
            if base is not None:
                if base == 0 and b < 0:
                    return INF
                return self.rational.adopt(base) ** b.numerator  # size-checked first
        return FloatArith.power(_float(a), _float(b))

    def power_slope(self, out, a, b):
        """b·a^(b-1): exact where a^(b-1) is rational (no rounding to avoid), else as floats."""
        if self.is_exact(out) and self.is_exact(a) and self.is_exact(b):
            return b * self.power(a, b - 1)
        return FloatArith.power_slope(_float(out), _float(a), _float(b))

    @staticmethod
    def divide(a, b):
        return FloatArith.divide(a, b) if b == 0 else a / b

    # What cannot stay rational: computed from the nearest float (±inf past the float
    # range, where float() of a huge rational raises OverflowError instead).
    @staticmethod
    def exp(a):
        return FloatArith.exp(_float(a))

    @staticmethod
    def log(a):
        if isinstance(a, Fraction) and a > 0:  # exact for huge numerators and denominators
            return math.log(a.numerator) - math.log(a.denominator)
        return math.log(a)

    @staticmethod
    def log10(a):
        if isinstance(a, Fraction) and a > 0:  # log10(1000) is 3.0, not 2.9999999999999996
            return math.log10(a.numerator) - math.log10(a.denominator)
        return math.log10(a)

    @staticmethod
    def log2(a):
        if isinstance(a, Fraction) and a > 0:
            return math.log2(a.numerator) - math.log2(a.denominator)
        return math.log2(a)

    @staticmethod
    def sin(a):
        return FloatArith.sin(_float(a))

    @staticmethod
    def cos(a):
        return FloatArith.cos(_float(a))

    @staticmethod
    def tan(a):
        return FloatArith.tan(_float(a))

    @staticmethod
    def tanh(a):
        return math.tanh(_float(a))

    @staticmethod
    def sigmoid(a):
        return FloatArith.sigmoid(_float(a))

    @staticmethod
    def sigmoid_slope(out, a):
        return FloatArith.sigmoid_slope(_float(out), _float(a))

    @staticmethod
    def tanh_slope(out, a):
        return FloatArith.tanh_slope(_float(out), _float(a))

    @staticmethod
    def softplus(a):
        return FloatArith.softplus(_float(a))

    @staticmethod
    def isfinite(a) -> bool:
        return isinstance(a, Fraction) or math.isfinite(a)

    @staticmethod
    def is_integer(a) -> bool:
        return a.denominator == 1 if isinstance(a, Fraction) else float(a).is_integer()


def _exact_root(a: Fraction, q: int) -> Fraction | None:
    """The rational q-th root of a ≥ 0, if a has one (numerator and denominator are
    perfect q-th powers); None otherwise."""
    if a < 0:
        return None
    num, den = _integer_root(a.numerator, q), _integer_root(a.denominator, q)
    return None if num is None or den is None else Fraction(num, den)


def _integer_root(n: int, q: int) -> int | None:
    """The integer r with r^q = n, or None: Newton's method in integers, from above."""
    if n < 2:
        return n
    if q >= n.bit_length():  # 2^q > n: only 1 would do, and n is not 1
        return None
    root = 1 << -(-n.bit_length() // q)  # at least the root
    while True:
        better = ((q - 1) * root + n // root ** (q - 1)) // q
        if better >= root:
            return root if root ** q == n else None
        root = better


def _float(a) -> float:
    """The float nearest to a number; ±inf past the float range instead of OverflowError."""
    try:
        return float(a)
    except OverflowError:
        return INF if a > 0 else -INF


def literal_digits(text: str) -> int:
    """An upper bound on the digits of a number literal's numerator and denominator
    (`1e999999` has 1,000,000), found without computing the number."""
    mantissa, _, exponent = text.lower().partition("e")
    if len(exponent.lstrip("+-0")) > 15:
        return sys.maxsize
    return len(mantissa) + abs(int(exponent or 0))


class _BoundedRational(Fraction):
    """A Fraction whose arithmetic refuses a result past `max_digits` digits (a subclass
    per limit, made by _bounded_rational): the check runs in every operation, so no
    chain of products can grow a number to millions of digits before anyone looks."""

    __slots__ = ()
    max_digits = DEFAULT.digits
    work = [0]  # bits of the results of the current pass (a list: the class stays as is)

    @classmethod
    def adopt(cls, value):
        """A Fraction result as this type, size-checked; other results (floats,
        NotImplemented) as they are."""
        if not isinstance(value, Fraction):
            return value
        bits = max(abs(value.numerator), value.denominator).bit_length()
        if bits * LOG10_2 > cls.max_digits:
            raise ExactSizeError(bits * LOG10_2, cls.max_digits)
        work = cls.work
        work[0] += bits
        if work[0] > MAX_EXACT_WORK_BITS:
            raise ExactWorkError()
        return value if type(value) is cls else cls(value)

    def __pow__(self, other, *modulo):
        if isinstance(other, int) or isinstance(other, Fraction) and other.denominator == 1:
            base = max(abs(self.numerator), self.denominator)
            exponent = abs(int(other))
            if base > 1:  # 0, 1 and -1 to any power stay small
                # base ≥ 2 has 0.3 digits or more per unit of exponent: an exponent past
                # 4 × the limit is refused without a float (10^400 would overflow one)
                digits = math.log10(base) * exponent if exponent <= 4 * self.max_digits \
                    else math.inf
                if digits > self.max_digits:
                    raise ExactSizeError(digits, self.max_digits)
        return self.adopt(Fraction.__pow__(self, other))

    def __rpow__(self, other, *modulo):
        return self.adopt(Fraction(other)) ** self if isinstance(other, int) \
            else Fraction.__rpow__(self, other)


def _checked(name: str):
    method = getattr(Fraction, name)
    in_floats = getattr(float, name)

    def checked(self, *other):
        if other and isinstance(other[0], float):  # Fraction would raise OverflowError
            return in_floats(_float(self), other[0])
        return self.adopt(method(self, *other))
    checked.__name__ = name
    return checked


for _name in ("__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
              "__truediv__", "__rtruediv__", "__neg__", "__pos__", "__abs__"):
    setattr(_BoundedRational, _name, _checked(_name))


@lru_cache(maxsize=None)
def _bounded_rational(max_digits: int) -> type:
    return type("Rational", (_BoundedRational,), {"__slots__": (), "max_digits": max_digits,
                                                  "work": [0]})
