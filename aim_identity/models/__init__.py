"""Tortoise models, one module per domain. Every tenant-owned row carries `organization`."""

from aim_identity.models.actions import ActionDecision
from aim_identity.models.agents import (
    Agent,
    AgentFeedback,
    AgentKey,
    AgentStatus,
    AgentType,
    CapabilityGrant,
    TrustScoreRecord,
)
from aim_identity.models.api_keys import ApiKey
from aim_identity.models.audit import AuditChainHead, AuditCheckpoint, AuditLogEntry
from aim_identity.models.mcp import (
    AgentMCPServer,
    HealthStatus,
    MCPChallenge,
    MCPHealthCheck,
    MCPServer,
    MCPServerStatus,
    MCPTransport,
    MCPVerificationEvent,
)
from aim_identity.models.oauth import ResourceToken
from aim_identity.models.organizations import Organization
from aim_identity.models.outbox import OutboxEvent
from aim_identity.models.security import (
    AgentBaseline,
    DetectionCursor,
    ResponseAction,
    SecurityPolicy,
    Suppression,
)
from aim_identity.models.service import RetiredSigningKey, ServiceSecret
from aim_identity.models.sessions import AuthFailure, RefreshToken, RevokedAccessToken
from aim_identity.models.threats import Anomaly, Severity, Threat, ThreatStatus, ThreatType
from aim_identity.models.users import MfaRecoveryCode, RegistrationCode, Role, User
from aim_identity.models.verification import (
    VerificationChallenge,
    VerificationEvent,
    VerificationFailureReason,
    VerificationResult,
)
from aim_identity.models.webhooks import Webhook, WebhookDelivery

__all__ = [
    "ActionDecision",
    "Agent",
    "AgentBaseline",
    "AgentFeedback",
    "AgentKey",
    "AgentMCPServer",
    "AgentStatus",
    "AgentType",
    "Anomaly",
    "ApiKey",
    "AuditChainHead",
    "AuditCheckpoint",
    "AuditLogEntry",
    "AuthFailure",
    "CapabilityGrant",
    "DetectionCursor",
    "HealthStatus",
    "MCPChallenge",
    "MCPHealthCheck",
    "MCPServer",
    "MCPServerStatus",
    "MCPTransport",
    "MCPVerificationEvent",
    "MfaRecoveryCode",
    "Organization",
    "OutboxEvent",
    "RefreshToken",
    "RegistrationCode",
    "ResourceToken",
    "ResponseAction",
    "RetiredSigningKey",
    "RevokedAccessToken",
    "Role",
    "SecurityPolicy",
    "ServiceSecret",
    "Severity",
    "Suppression",
    "Threat",
    "ThreatStatus",
    "ThreatType",
    "TrustScoreRecord",
    "User",
    "VerificationChallenge",
    "VerificationEvent",
    "VerificationFailureReason",
    "VerificationResult",
    "Webhook",
    "WebhookDelivery",
]
