"""String enums with a total order, lowest first as declared: roles and severities compare, sort and
take max() by rank, never by their text ("ADMIN" < "VIEWER" as strings)."""

from __future__ import annotations

from enum import Enum
from typing import Any


class Ranked(str, Enum):
    @property
    def rank(self) -> int:
        return type(self)._member_names_.index(self.name)

    def _other(self, other: Any) -> int:
        if type(other) is not type(self):
            raise TypeError(f"cannot order {type(self).__name__} against {type(other).__name__}")
        return other.rank

    def __lt__(self, other: Any) -> bool:
        return self.rank < self._other(other)

    def __le__(self, other: Any) -> bool:
        return self.rank <= self._other(other)

    def __gt__(self, other: Any) -> bool:
        return self.rank > self._other(other)

    def __ge__(self, other: Any) -> bool:
        return self.rank >= self._other(other)
