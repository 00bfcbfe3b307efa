"""The one RFC error the token endpoint needs that authlib does not define."""

from __future__ import annotations

from authlib.oauth2.base import OAuth2Error


class InvalidTargetError(OAuth2Error):
    """RFC 8707, section 2: the `resource` is unknown, or not one the client may have a token for."""

    error = "invalid_target"
    status_code = 400


def printable(text: str) -> str:
    """`text` as an error description may carry it: RFC 6749 allows printable ASCII but `"` and `\\`."""
    return "".join(c if 0x20 <= ord(c) <= 0x7E and c not in '"\\' else "?" for c in text)
