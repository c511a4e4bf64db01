"""Immutable classes without the import-time cost of dataclasses.

`@dataclass(frozen=True)` compiles several methods per class when its module is imported,
at every start of the command. These bases give plain slotted classes the same guarantees:
a subclass lists its fields in `__slots__` and sets each once in `__init__` with
`object.__setattr__`; after that, assignment and deletion raise.
"""
from __future__ import annotations


class Frozen:
    """Immutable; compared and hashed by identity."""

    __slots__ = ()

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to {name!r}: a {type(self).__name__} is immutable")

    def __delattr__(self, name):
        raise AttributeError(f"cannot delete {name!r}: a {type(self).__name__} is immutable")


class FrozenValue(Frozen):
    """Immutable; equal when of the same type with equal fields, hashed and shown by them."""

    __slots__ = ()

    def _fields(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self):
        return hash(self._fields())

    def __repr__(self):
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__slots__)
        return f"{type(self).__name__}({fields})"
