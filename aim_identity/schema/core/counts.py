from __future__ import annotations

import strawberry


@strawberry.type
class CountByKey:
    key: str
    count: int

    @classmethod
    def all(cls, counted: list[tuple[str, int]]) -> list[CountByKey]:
        return [cls(key=k, count=n) for k, n in counted]
