"""What a caller who proved nothing may see of an object: the fields named, and FORBIDDEN for the rest.

An anonymous answer to a challenge that fails has proved nothing about who sent it, so it learns the
outcome and the agent's id and status, not its name, key, score or history. A withheld object is an
instance of the type it stands for (GraphQL checks that it is) holding only what may be shown; every
other field (a plain one, or one whose resolver reads from it) is refused."""

from __future__ import annotations

from typing import Any, TypeVar

from aim_identity.errors import Forbidden

T = TypeVar("T")


class Withheld:
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):  # what Python and Strawberry ask of any object (its type, its definition)
            raise AttributeError(name)
        raise Forbidden(self.__dict__["_why"])


_kinds: dict[type, type] = {}


def withheld(cls: type[T], why: str, **shown: Any) -> T:
    kind = _kinds.get(cls) or _kinds.setdefault(cls, type(f"Withheld{cls.__name__}", (Withheld, cls), {}))
    instance: T = object.__new__(kind)  # none of the type's own fields is set
    instance.__dict__.update(shown, _why=why)
    return instance
