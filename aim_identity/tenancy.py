"""Tenant isolation in one place: every read of tenant data starts from `scoped()`, and every write
that callers can see bumps the organization's data version with `touch()`.

A row from another organization is filtered out by the database, so a foreign ID behaves exactly
like an unknown one. A deleted row that stays as a tombstone (a model with `deleted_at`) is left out
too, unless the read asks for tombstones: the evidence that names a deleted agent still shows it."""

from __future__ import annotations

import uuid
from typing import TypeVar

from tortoise.models import Model
from tortoise.queryset import QuerySet

from aim_identity import db
from aim_identity import models as m

M = TypeVar("M", bound=Model)

# How each model reaches its organization.
_ORG_PATH: dict[type[Model], str] = {
    m.Organization: "id",
    m.User: "organization_id",
    m.ApiKey: "organization_id",
    m.Agent: "organization_id",
    m.MCPServer: "organization_id",
    m.Threat: "organization_id",
    m.Anomaly: "organization_id",
    m.VerificationEvent: "organization_id",
    m.AuditLogEntry: "organization_id",
    m.ActionDecision: "organization_id",
    m.AgentKey: "agent__organization_id",
    m.CapabilityGrant: "agent__organization_id",
    m.AgentFeedback: "agent__organization_id",
    m.TrustScoreRecord: "agent__organization_id",
    m.AgentMCPServer: "agent__organization_id",
    m.VerificationChallenge: "agent__organization_id",
    m.MCPVerificationEvent: "organization_id",
    m.MCPHealthCheck: "mcp_server__organization_id",
    m.MCPChallenge: "mcp_server__organization_id",
    m.ResourceToken: "organization_id",
    m.Webhook: "organization_id",
    m.WebhookDelivery: "webhook__organization_id",
    m.SecurityPolicy: "organization_id",
    m.Suppression: "organization_id",
    m.AuditCheckpoint: "organization_id",
}


def scoped(model: type[M], organization_id: uuid.UUID, *, tombstones: bool = False) -> QuerySet[M]:
    query = model.filter(**{_ORG_PATH[model]: organization_id})
    if not tombstones and has_tombstones(model):
        query = query.filter(deleted_at=None)
    return query


def has_tombstones(model: type[Model]) -> bool:
    return "deleted_at" in model._meta.fields_map


async def touch(organization_ids: set[uuid.UUID]) -> None:
    """In the writing transaction: cached responses read at an older version are never served again."""
    for organization_id in organization_ids:
        await db.execute("UPDATE organizations SET data_version = data_version + 1 WHERE id = $1", organization_id)
