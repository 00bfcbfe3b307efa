"""Roles and severities have a total order, by rank, never by their names as strings."""

from __future__ import annotations

import pytest

from aim_identity.models import Role, Severity


def test_roles_order_by_rank():
    assert Role.ADMIN > Role.MANAGER > Role.MEMBER > Role.VIEWER
    assert Role.VIEWER < Role.ADMIN and Role.ADMIN >= Role.ADMIN and Role.MEMBER <= Role.MANAGER
    assert max(Role) is Role.ADMIN and min(Role) is Role.VIEWER
    assert sorted([Role.ADMIN, Role.VIEWER, Role.MANAGER, Role.MEMBER]) == [
        Role.VIEWER,
        Role.MEMBER,
        Role.MANAGER,
        Role.ADMIN,
    ]


def test_severities_order_by_rank():
    assert Severity.CRITICAL > Severity.HIGH > Severity.MEDIUM > Severity.LOW > Severity.INFO
    assert max(Severity) is Severity.CRITICAL and min(Severity) is Severity.INFO
    assert max(Severity.LOW, Severity.MEDIUM) is Severity.MEDIUM


def test_an_order_across_kinds_or_against_text_is_refused():
    # As strings, "ADMIN" < "VIEWER": a comparison with text must fail loudly, not answer that.
    with pytest.raises(TypeError):
        assert Role.ADMIN > "VIEWER"
    with pytest.raises(TypeError):
        assert Role.ADMIN > Severity.INFO


def test_equality_and_hashing_stay_those_of_the_value():
    assert Role.ADMIN == "ADMIN" and Role("ADMIN") is Role.ADMIN
    assert {Role.ADMIN: 1}["ADMIN"] == 1
