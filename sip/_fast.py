"""Performance helpers for the parsers' hot path (a redirector parses every packet).

`cached_property` is a lock-free drop-in for functools' (which takes a lock on
3.11); `trusted` builds a frozen dataclass from values a parser has already
validated, skipping `__init__`/`__post_init__`. Only parsers may call `trusted`,
and only with values that would pass the class's own validation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar, overload

_T = TypeVar("_T")


class cached_property(Generic[_T]):
    """Compute once per instance and store in its __dict__ (frozen dataclasses allow this)."""

    def __init__(self, func: Callable[[Any], _T]) -> None:
        self.func = func
        self.name = func.__name__
        self.__doc__ = func.__doc__

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type) -> cached_property[_T]: ...
    @overload
    def __get__(self, obj: object, owner: type) -> _T: ...
    def __get__(self, obj: object | None, owner: type) -> _T | cached_property[_T]:
        if obj is None:
            return self
        value = self.func(obj)
        obj.__dict__[self.name] = value
        return value


def trusted(cls: type[_T], **fields: Any) -> _T:
    """An instance of dataclass `cls` with `fields` set as given, not re-validated."""
    obj = object.__new__(cls)
    obj.__dict__.update(fields)
    return obj
