"""Risk levels come from the capability's namespace and verb, as whole segments; the higher wins."""

from __future__ import annotations

import pytest

from aim_identity.identity.risk import NAMESPACES, VERBS, risk_level
from aim_identity.models import Severity


@pytest.mark.parametrize(
    ("capability", "expected"),
    [
        # Substrings of a segment mean nothing: "system" inside "filesystem", "sub" + "system".
        ("filesystem:read", Severity.LOW),
        ("subsystem:status", Severity.LOW),
        ("db:read", Severity.LOW),
        ("db:users:list", Severity.LOW),
        # The verb decides.
        ("db:drop", Severity.CRITICAL),
        ("db:users:delete", Severity.HIGH),
        ("shell:execute", Severity.HIGH),
        ("file:write", Severity.MEDIUM),
        ("email:send", Severity.MEDIUM),
        # The namespace decides.
        ("payment:refund", Severity.CRITICAL),
        ("payment:read", Severity.CRITICAL),
        ("admin:users:list", Severity.CRITICAL),
        ("system:status", Severity.CRITICAL),
        ("secrets:read", Severity.HIGH),
        # The higher of the two wins, whichever it is.
        ("secrets:drop", Severity.CRITICAL),
        ("orders:refund", Severity.MEDIUM),
        # What the tables do not name.
        ("db:frobnicate", Severity.MEDIUM),
        ("file:*", Severity.HIGH),
        ("payment:*", Severity.CRITICAL),
        ("*", Severity.CRITICAL),
        ("telemetry", Severity.MEDIUM),
        ("admin", Severity.CRITICAL),
    ],
)
def test_risk_level(capability: str, expected: Severity):
    assert risk_level(capability) == expected


def test_every_table_entry_is_a_whole_lowercase_word():
    for word in (*NAMESPACES, *VERBS):
        assert word.isalpha() and word == word.lower(), word
