"""Two hundred audited writes at once in one organization on PostgreSQL: the chain stays gap-free,
sequences 1..N, and verifies."""

from __future__ import annotations

import asyncio

import pytest

from aim_identity import ids
from aim_identity.actors import Actor
from aim_identity.models import AuditLogEntry
from aim_identity.unit_of_work import atomic
from tests.audit.test_verification import VERIFY
from tests.conftest import postgres_server
from tests.support import Org, create_agent

pytestmark = pytest.mark.skipif(postgres_server() is None, reason="concurrent transactions need PostgreSQL")


async def gap_free(org: Org) -> int:
    sequences = await AuditLogEntry.filter(organization_id=ids.decode(org.id, "Organization")).values_list(
        "sequence", flat=True
    )
    assert sorted(sequences) == list(range(1, len(sequences) + 1))
    found = (await org.admin.api(VERIFY))["verifyAuditChain"]
    assert found == {"valid": True, "checkedEntries": len(sequences), "firstInvalidSequence": None, "reason": None}
    return len(sequences)


async def test_two_hundred_concurrent_mutations_leave_a_gap_free_chain(org: Org):
    before = await gap_free(org)
    await asyncio.gather(*(create_agent(org.admin.api, name=f"racer-{n:03d}") for n in range(200)))
    assert await gap_free(org) >= before + 200


async def test_two_hundred_concurrent_transactions_leave_a_gap_free_chain(org: Org):
    """Past the API's admission control: two hundred units of work on the connection pool at once."""
    organization_id = ids.decode(org.id, "Organization")
    before = await gap_free(org)

    async def write(n: int) -> None:
        async with atomic(Actor(organization_id, "system", "test")) as work:
            work.audit("test.concurrent", "Test", str(n), n=n)

    await asyncio.gather(*(write(n) for n in range(200)))
    assert await gap_free(org) == before + 200
