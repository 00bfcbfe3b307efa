"""The composed AIM schema. Each field names its resolver and the role it needs, so the whole
permission map of the API reads from this one module. Only the application and `aimctl` import it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter

from aim_identity.config import Settings
from aim_identity.identity import capabilities
from aim_identity.models import Role
from aim_identity.resolvers.accounts import mutations as accounts
from aim_identity.resolvers.accounts import queries as account_queries
from aim_identity.resolvers.actions import mutations as actions
from aim_identity.resolvers.agents import mutations as agents
from aim_identity.resolvers.agents import queries as agent_queries
from aim_identity.resolvers.api_keys import mutations as api_keys
from aim_identity.resolvers.api_keys import queries as api_key_queries
from aim_identity.resolvers.audit import mutations as audit
from aim_identity.resolvers.audit import queries as audit_queries
from aim_identity.resolvers.core import queries as core_queries
from aim_identity.resolvers.events import subscriptions
from aim_identity.resolvers.mcp import mutations as mcp
from aim_identity.resolvers.mcp import queries as mcp_queries
from aim_identity.resolvers.security import mutations as security
from aim_identity.resolvers.security import queries as security_queries
from aim_identity.resolvers.verification import mutations as verification
from aim_identity.resolvers.webhooks import mutations as webhooks
from aim_identity.resolvers.webhooks import queries as webhook_queries
from aim_identity.schema.core.budget import QueryCost
from aim_identity.schema.core.documents import BoundedParser
from aim_identity.schema.core.errors import ErrorCodes
from aim_identity.schema.core.limits import directive_limit, root_field_limit
from aim_identity.schema.core.permissions import Enrolling, SignedIn, at_least
from aim_identity.schema.core.scalars import SCALAR_OVERRIDES
from aim_identity.schema.core.validation import Unsuggesting, Validation, validator

VIEWER, MEMBER, MANAGER, ADMIN = (at_least(r) for r in (Role.VIEWER, Role.MEMBER, Role.MANAGER, Role.ADMIN))
GRANTING = at_least(capabilities.GRANTED_BY)


def field(resolver: Callable[..., Any], *permissions: type) -> Any:
    return strawberry.field(resolver=resolver, permission_classes=list(permissions))


def mutation(resolver: Callable[..., Any], *permissions: type, name: str | None = None) -> Any:
    return strawberry.mutation(resolver=resolver, permission_classes=list(permissions), name=name)


@strawberry.type
class Query:
    node = field(core_queries.node, SignedIn)
    viewer = field(account_queries.viewer, Enrolling)
    organization = field(account_queries.organization, SignedIn)
    users = field(account_queries.users, ADMIN)
    webhooks = field(webhook_queries.webhooks, ADMIN)
    agents = field(agent_queries.agents, VIEWER)
    agent = field(agent_queries.agent, SignedIn)
    api_keys = field(api_key_queries.api_keys, VIEWER)
    mcp_servers = field(mcp_queries.mcp_servers, VIEWER)
    mcp_server = field(mcp_queries.mcp_server, VIEWER)
    threats = field(security_queries.threats, VIEWER)
    anomalies = field(security_queries.anomalies, VIEWER)
    security_metrics = field(security_queries.security_metrics, VIEWER)
    security_policies = field(security_queries.security_policies, VIEWER)
    audit_logs = field(audit_queries.audit_logs, MANAGER)
    audit_stats = field(audit_queries.audit_stats, MANAGER)
    verify_audit_chain = field(audit_queries.verify_audit_chain, ADMIN)
    audit_checkpoints = field(audit_queries.audit_checkpoints, ADMIN)


@strawberry.type
class Mutation:
    request_registration = mutation(accounts.request_registration)
    register = mutation(accounts.register)
    login = mutation(accounts.login)
    refresh_token = mutation(accounts.refresh_token)
    logout = mutation(accounts.logout, Enrolling)
    invite_user = mutation(accounts.invite_user, ADMIN)
    create_webhook = mutation(webhooks.create_webhook, ADMIN)
    delete_webhook = mutation(webhooks.delete_webhook, ADMIN)
    update_user_role = mutation(accounts.update_user_role, ADMIN)
    enable_mfa = mutation(accounts.enable_mfa, Enrolling)
    confirm_mfa = mutation(accounts.confirm_mfa, Enrolling)
    disable_mfa = mutation(accounts.disable_mfa, SignedIn)
    update_organization = mutation(accounts.update_organization, ADMIN)

    create_api_key = mutation(api_keys.create_api_key, MEMBER)
    revoke_api_key = mutation(api_keys.revoke_api_key, VIEWER)

    create_agent = mutation(agents.create_agent, MEMBER)
    update_agent = mutation(agents.update_agent, MEMBER)
    delete_agent = mutation(agents.delete_agent, MANAGER)
    suspend_agent = mutation(agents.suspend_agent, MANAGER)
    reactivate_agent = mutation(agents.reactivate_agent, MANAGER)
    revoke_agent = mutation(agents.revoke_agent, MANAGER)
    grant_capability = mutation(agents.grant_capability, GRANTING)
    revoke_capability = mutation(agents.revoke_capability, GRANTING)
    rotate_agent_key = mutation(agents.rotate_agent_key, SignedIn)
    submit_agent_feedback = mutation(agents.submit_agent_feedback, MEMBER)

    register_mcp_server = mutation(mcp.register_mcp_server, MEMBER, name="registerMCPServer")
    update_mcp_server = mutation(mcp.update_mcp_server, MEMBER, name="updateMCPServer")
    delete_mcp_server = mutation(mcp.delete_mcp_server, MANAGER, name="deleteMCPServer")
    suspend_mcp_server = mutation(mcp.suspend_mcp_server, MANAGER, name="suspendMCPServer")
    create_mcp_server_credentials = mutation(
        mcp.create_mcp_server_credentials, MANAGER, name="createMCPServerCredentials"
    )
    reactivate_mcp_server = mutation(mcp.reactivate_mcp_server, MANAGER, name="reactivateMCPServer")
    discover_mcp_server = mutation(mcp.discover_mcp_server, MEMBER, name="discoverMCPServer")
    request_mcp_server_challenge = mutation(mcp.request_mcp_server_challenge, name="requestMCPServerChallenge")
    verify_mcp_server = mutation(mcp.verify_mcp_server, name="verifyMCPServer")
    connect_mcp_server = mutation(mcp.connect_mcp_server, MEMBER, name="connectMCPServer")
    disconnect_mcp_server = mutation(mcp.disconnect_mcp_server, MEMBER, name="disconnectMCPServer")
    report_detected_mcp_servers = mutation(mcp.report_detected_mcp_servers, SignedIn, name="reportDetectedMCPServers")

    request_verification_challenge = mutation(verification.request_verification_challenge)
    verify_agent = mutation(verification.verify_agent)
    authorize_action = mutation(actions.authorize_action)
    report_action_result = mutation(actions.report_action_result, SignedIn)

    acknowledge_threat = mutation(security.acknowledge_threat, MANAGER)
    block_threat = mutation(security.block_threat, MANAGER)
    resolve_threat = mutation(security.resolve_threat, MANAGER)
    update_security_policy = mutation(security.update_security_policy, ADMIN)
    export_audit_logs = mutation(audit.export_audit_logs, MANAGER)
    export_access_review = mutation(audit.export_access_review, ADMIN)
    export_subject_data = mutation(audit.export_subject_data, ADMIN)


@strawberry.type
class Subscription:
    security_events = strawberry.subscription(resolver=subscriptions.security_events)
    agent_events = strawberry.subscription(resolver=subscriptions.agent_events)
    trust_score_changes = strawberry.subscription(resolver=subscriptions.trust_score_changes)
    audit_log_appended = strawberry.subscription(resolver=subscriptions.audit_log_appended)
    mcp_server_events = strawberry.subscription(resolver=subscriptions.mcp_server_events, name="mcpServerEvents")


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError], execution_context: Any = None) -> None:
        """Strawberry would log every error; ErrorCodes logs each internal one, once, under its request
        id. A caller's mistakes and refusals (a bad document, RATE_LIMITED) are the caller's to read,
        and logged they would let anyone fill the log."""


def build_schema(settings: Settings, *, checks: bool = True) -> strawberry.Schema:
    """The schema, with its checks: the budget and the cost, and in production the document limits,
    no introspection and no suggestions. `checks=False` is for the benchmark of what they cost
    (bench/hardening.py) and nothing else; the parser's bounds stay, since they come with its cache."""
    production = checks and settings.production
    validated = (
        validator(
            limits=[
                *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
                *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
                root_field_limit(settings.max_root_fields),
                directive_limit(settings.max_directives),
            ],
            extra=[NoSchemaIntrospectionCustomRule],
            hide_suggestions=True,
        )
        if production
        else validator()
    )
    extensions: list[Callable[[], Any]] = [
        lambda: BoundedParser(max_bytes=settings.max_document_bytes, max_tokens=settings.max_tokens),
        lambda: Validation(validated),
        lambda: ErrorCodes(mask=settings.production),
    ]
    if checks:
        extensions.append(
            lambda: QueryCost(maximum=settings.max_query_cost if production else None, budget=settings.cost_budget)
        )
    return Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        execution_context_class=Unsuggesting if production else None,
        scalar_overrides=SCALAR_OVERRIDES,
    )
