"""The compliance reports: the access review lists every person and API key with who granted the role
and when; the subject export holds everything about one person and none of its secrets. Both for the
organization's admins only, audited, and fetched like any export."""

from __future__ import annotations

import csv
import io

from aim_identity.models import AuditLogEntry
from tests.audit.test_exports import download
from tests.auth.test_api_keys import CREATE_KEY
from tests.auth.test_mfa import with_mfa
from tests.support import PASSWORD, Org, create_agent

REVIEW = """mutation($i: ExportAccessReviewInput!) { exportAccessReview(input: $i) { format entries downloadUrl } }"""
SUBJECT = """mutation($i: ExportSubjectDataInput!) { exportSubjectData(input: $i) { format entries downloadUrl } }"""
ROLE = """mutation($i: UpdateUserRoleInput!) { updateUserRole(input: $i) { user { id role } } }"""
RATE = """mutation($i: AgentFeedbackInput!) { submitAgentFeedback(input: $i) { agent { id } } }"""


async def test_the_access_review_names_every_grant_with_who_and_when(org: Org):
    viewer, promoted = await org.member("VIEWER"), await org.member("VIEWER")
    await with_mfa(viewer)
    await org.admin.api(ROLE, i={"userId": promoted.user_id, "role": "MANAGER"})
    key = (await org.admin.api(CREATE_KEY, i={"name": "ci", "role": "MEMBER"}))["createApiKey"]
    made = (await org.admin.api(REVIEW, i={"format": "CSV"}))["exportAccessReview"]
    assert made["entries"] == 4  # three people and a key
    rows = {r["id"]: r for r in csv.DictReader(io.StringIO((await download(made, org.admin.api)).text))}
    assert rows[org.admin.user_id]["role"] == "ADMIN" and rows[viewer.user_id]["lastUsedAt"]
    assert rows[viewer.user_id]["mfaEnabled"] == "True" and rows[viewer.user_id]["grantedBy"] == org.admin.user_id
    assert rows[promoted.user_id]["role"] == "MANAGER" and rows[promoted.user_id]["mfaEnabled"] == "False"
    role_change = await AuditLogEntry.get(action="user.role_change", target_id=promoted.user_id)
    assert rows[promoted.user_id]["grantedAt"] == role_change.occurred_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    (key_row,) = [r for r in rows.values() if r["kind"] == "api_key"]
    assert (key_row["id"], key_row["role"], key_row["prefix"]) == (
        key["apiKey"]["id"],
        "MEMBER",
        key["apiKey"]["prefix"],
    )
    assert key_row["grantedBy"] == org.admin.user_id
    assert all(key["secret"] not in value for value in key_row.values())

    as_json = (await org.admin.api(REVIEW, i={"format": "JSON"}))["exportAccessReview"]
    assert {r["id"] for r in (await download(as_json, org.admin.api)).json()} == set(rows)
    assert await org.admin.api.error(REVIEW, i={"format": "PDF"}) == "BAD_USER_INPUT"


async def test_the_subject_export_holds_what_aim_knows_of_one_person_and_no_secret(org: Org, other_org: Org):
    person = await org.member("MEMBER")
    secret, recovery = await with_mfa(person)
    agent = await create_agent(person.api)
    await person.api(RATE, i={"agentId": agent.id, "rating": 4, "comment": "steady"})
    made = (await org.admin.api(SUBJECT, i={"userId": person.user_id}))["exportSubjectData"]
    response = await download(made, org.admin.api)
    document = response.json()
    assert document["subject"]["id"] == person.user_id and document["subject"]["mfaEnabled"] is True
    assert [a["id"] for a in document["agentsCreated"]] == [agent.id]
    assert document["ratingsGiven"][0]["comment"] == "steady"
    assert document["sessions"] and all("family" in s for s in document["sessions"])
    assert len(document["auditEntries"]) == made["entries"]
    assert {"user.invite", "auth.login", "agent.create"} <= {e["action"] for e in document["auditEntries"]}
    for kept in (PASSWORD, secret, *recovery, person.refresh_token):
        assert kept not in response.text
    exported = await AuditLogEntry.get(action="audit.subject_export", target_id=person.user_id)
    assert exported.actor_id == org.admin.user_id

    assert await other_org.admin.api.error(SUBJECT, i={"userId": person.user_id}) == "NOT_FOUND"
    manager = await org.member("MANAGER")
    assert await manager.api.error(SUBJECT, i={"userId": person.user_id}) == "FORBIDDEN"
    assert (await download(made, manager.api)).status_code == 404  # a report is for admins to fetch, too
    assert (await download(made, other_org.admin.api)).status_code == 404
