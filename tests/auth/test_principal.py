"""Who sees whom: people and their API keys see the people of their organization; an email address
is seen by administrators and its owner alone; an agent sees no one."""

from __future__ import annotations

import uuid

import pytest

from aim_identity.auth.principal import Principal
from aim_identity.models import Role

ORG, ME, SOMEONE = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()


def person(role: Role, user_id: uuid.UUID = ME) -> Principal:
    return Principal("user", ORG, role, user_id=user_id)


def key(role: Role, creator: uuid.UUID = ME) -> Principal:
    return Principal("api_key", ORG, role, user_id=creator, api_key_id=uuid.uuid4())


AGENT = Principal("agent", ORG, None, agent_id=uuid.uuid4())


@pytest.mark.parametrize("role", list(Role))
def test_people_and_keys_see_people_an_agent_does_not(role: Role):
    assert person(role).sees_people() and key(role).sees_people()
    assert not AGENT.sees_people()


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER, Role.MANAGER])
def test_an_email_is_seen_by_its_owner_and_administrators(role: Role):
    assert person(role).sees_email_of(ME) and not person(role).sees_email_of(SOMEONE)
    assert key(role).sees_email_of(ME) and not key(role).sees_email_of(SOMEONE)
    assert person(Role.ADMIN).sees_email_of(SOMEONE) and key(Role.ADMIN).sees_email_of(SOMEONE)
    assert not AGENT.sees_email_of(ME)
