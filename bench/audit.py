"""(i) audit: verifying and exporting 100,000 audit entries, in this process against the bench database.

It writes ENTRIES entries into a fresh organization's chain (through the unit of work, a thousand to
a transaction, with the metadata a mutation writes), then times:

- verification: `verifyAuditChain`'s check of the whole chain (audit/verification.py), in entries per
  second, right after the entries were written and again (target, on the second: 50,000);
- each export format: the whole file streamed and thrown away (audit/exports.py, the ticket's snapshot
  of the chain), its size, and, streamed again, the peak of what Python allocated meanwhile
  (tracemalloc), which stays near one page of entries where the export streams.

Audited against unaudited writes is (m), bench/audited.py."""

from __future__ import annotations

import asyncio
import time
import tracemalloc
import uuid
from datetime import UTC, datetime

from tortoise import Tortoise

from aim_identity import row_security
from aim_identity.actors import Actor
from aim_identity.audit import chain, exports, log, verification
from aim_identity.auth.keyring import Keyring
from aim_identity.db import tortoise_config
from aim_identity.models import AuditChainHead, Organization
from aim_identity.unit_of_work import atomic

ENTRIES = 100_000
BATCH = 1000
TARGET_VERIFY_PER_S = 50_000


def run(database_url: str, secret: str) -> dict:
    return asyncio.run(_run(database_url, Keyring.derive(secret)))


async def _run(database_url: str, keyring: Keyring) -> dict:
    await Tortoise.init(config=tortoise_config(database_url), _enable_global_fallback=True)
    row_security.enter_every_organization()  # the benchmark seeds and reads as the operator would
    try:
        organization_id = await _seeded()
        # The first read of a fresh row also checks that its transaction committed and marks the row
        # (PostgreSQL's hint bits): work done once per row, by whichever read comes first, so the
        # target is on a later verification of the same chain.
        just_written = await _verified(organization_id, keyring)
        results: dict = {
            "entries": ENTRIES,
            "verify_per_s": await _verified(organization_id, keyring),
            "verify_just_written_per_s": just_written,
            "exports": {},
        }
        head = await AuditChainHead.get(organization_id=organization_id)
        for format in exports.FORMATS:
            ticket = exports.Ticket(organization_id, format, log.Filter(), head.sequence, datetime.now(UTC))
            results["exports"][format] = await _exported(ticket, keyring)
        return results
    finally:
        await Tortoise.close_connections()


async def _verified(organization_id: uuid.UUID, keyring: Keyring) -> int:
    """Entries verified per second."""
    started = time.perf_counter()
    found = await verification.verify(organization_id, keyring)
    seconds = time.perf_counter() - started
    if not found.valid or found.checked_entries != ENTRIES:
        raise RuntimeError(f"the seeded chain does not verify: {found}")
    return round(ENTRIES / seconds)


async def _seeded() -> uuid.UUID:
    suffix = uuid.uuid4().hex[:8]
    org = await Organization.create(name=f"Audit {suffix}", slug=f"audit-{suffix}")
    await chain.start(org.id)
    actor = Actor(org.id, "user", "VXNlcjpiZW5jaA==", "10.0.0.1", "bench/1.0")
    for start in range(0, ENTRIES, BATCH):
        async with atomic(actor) as work:
            for n in range(start, start + BATCH):
                work.audit("agent.update", "Agent", f"agent-{n % 500}", field="description", n=n)
    return org.id


async def _exported(ticket: exports.Ticket, keyring: Keyring) -> dict:
    """Streamed twice: timed, then under tracemalloc (which slows allocation-heavy code severalfold)."""
    started = time.perf_counter()
    size = await _drained(ticket, keyring)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    await _drained(ticket, keyring)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"seconds": round(seconds, 2), "mb": round(size / 2**20, 1), "peak_python_mb": round(peak / 2**20, 1)}


async def _drained(ticket: exports.Ticket, keyring: Keyring) -> int:
    size = 0
    async for chunk in exports.stream(ticket, keyring):
        size += len(chunk)
    return size


def report(results: dict) -> dict:
    verify = results["verify_per_s"]
    ok = verify >= TARGET_VERIFY_PER_S
    print(
        f"(i) audit: verifying {results['entries']:,} entries at {verify:,}/s "
        f"(target >= {TARGET_VERIFY_PER_S:,}/s)  {'PASS' if ok else 'MISS'}; "
        f"the first time, right after they were written: {results['verify_just_written_per_s']:,}/s"
    )
    for format, e in results["exports"].items():
        peak = e["peak_python_mb"]
        print(f"    export {format:4}: {e['seconds']:6.2f} s, {e['mb']:6.1f} MB, peak Python memory {peak} MB")
    return {"audit_verify_per_s": verify, "audit_verify_pass": ok}
