"""DateTime as RFC 3339 in UTC with a `Z`, the form PROTOCOL.md signs and hashes."""

from __future__ import annotations

from datetime import UTC, datetime

import strawberry


def serialize(value: datetime) -> str:
    text = value.astimezone(UTC).isoformat()
    return text.replace("+00:00", "Z")


def parse(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (TypeError, ValueError):
        raise ValueError(f"Invalid DateTime {value!r}: use RFC 3339, e.g. 2026-11-27T19:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError("A DateTime needs a timezone (use Z for UTC)")
    return parsed.astimezone(UTC)


UtcDateTime = strawberry.scalar(
    datetime, name="DateTime", description="RFC 3339, UTC", serialize=serialize, parse_value=parse
)

SCALAR_OVERRIDES: dict[object, type] = {datetime: UtcDateTime}
