"""The composed AIM schema. Each field names its resolver and the role it needs, so the whole
permission map of the API reads from this one file."""

from __future__ import annotations

import strawberry
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)

from aim_identity.config import Settings
from aim_identity.models import Role
from aim_identity.resolvers import accounts as account_resolvers
from aim_identity.resolvers import actions as action_resolvers
from aim_identity.resolvers import agents as agent_resolvers
from aim_identity.resolvers import api_keys as api_key_resolvers
from aim_identity.resolvers import mcp as mcp_resolvers
from aim_identity.resolvers import nodes as node_resolvers
from aim_identity.resolvers import verification as verification_resolvers
from aim_identity.schema.actions import ActionDecision, ReportActionResultPayload
from aim_identity.schema.agents import Agent, AgentPayload, CreateAgentPayload, DeleteAgentPayload
from aim_identity.schema.api_keys import ApiKey, ApiKeyPayload, CreateApiKeyPayload
from aim_identity.schema.errors import ErrorCodes
from aim_identity.schema.mcp import MCPServer, MCPServerPayload, ReportDetectedMCPServersPayload
from aim_identity.schema.limits import cost_limit
from aim_identity.schema.node import Node
from aim_identity.schema.organizations import Organization
from aim_identity.schema.pagination import Connection
from aim_identity.schema.permissions import SignedIn, at_least
from aim_identity.schema.scalars import SCALAR_OVERRIDES
from aim_identity.schema.subscriptions import Subscription
from aim_identity.schema.users import AuthPayload, LogoutPayload, User, UserPayload
from aim_identity.schema.verification import VerificationChallenge, VerifyAgentPayload

VIEWER, MEMBER, MANAGER, ADMIN = (at_least(r) for r in (Role.VIEWER, Role.MEMBER, Role.MANAGER, Role.ADMIN))


def field(resolver, *permissions):
    return strawberry.field(resolver=resolver, permission_classes=list(permissions))


def mutation(resolver, *permissions, name: str | None = None):
    return strawberry.mutation(resolver=resolver, permission_classes=list(permissions), name=name)


@strawberry.type
class Query:
    node: Node | None = field(node_resolvers.node, SignedIn)
    viewer: User = field(account_resolvers.viewer, SignedIn)
    organization: Organization = field(account_resolvers.organization, SignedIn)
    users: Connection[User] = field(account_resolvers.users, ADMIN)
    agents: Connection[Agent] = field(agent_resolvers.list_agents, VIEWER)
    agent: Agent | None = field(agent_resolvers.agent, SignedIn)
    api_keys: list[ApiKey] = field(api_key_resolvers.list_api_keys, VIEWER)
    mcp_servers: Connection[MCPServer] = field(mcp_resolvers.list_mcp_servers, VIEWER)
    mcp_server: MCPServer | None = field(mcp_resolvers.mcp_server, VIEWER)


@strawberry.type
class Mutation:
    register: AuthPayload = mutation(account_resolvers.register)
    login: AuthPayload = mutation(account_resolvers.login)
    refresh_token: AuthPayload = mutation(account_resolvers.refresh_token)
    logout: LogoutPayload = mutation(account_resolvers.logout, SignedIn)
    invite_user: UserPayload = mutation(account_resolvers.invite_user, ADMIN)
    update_user_role: UserPayload = mutation(account_resolvers.update_user_role, ADMIN)

    create_api_key: CreateApiKeyPayload = mutation(api_key_resolvers.create_api_key, MEMBER)
    revoke_api_key: ApiKeyPayload = mutation(api_key_resolvers.revoke_api_key, VIEWER)

    create_agent: CreateAgentPayload = mutation(agent_resolvers.create_agent, MEMBER)
    update_agent: AgentPayload = mutation(agent_resolvers.update_agent, MEMBER)
    delete_agent: DeleteAgentPayload = mutation(agent_resolvers.delete_agent, MANAGER)
    suspend_agent: AgentPayload = mutation(agent_resolvers.suspend_agent, MANAGER)
    reactivate_agent: AgentPayload = mutation(agent_resolvers.reactivate_agent, MANAGER)
    revoke_agent: AgentPayload = mutation(agent_resolvers.revoke_agent, MANAGER)
    grant_capability: AgentPayload = mutation(agent_resolvers.grant_capability, MANAGER)
    revoke_capability: AgentPayload = mutation(agent_resolvers.revoke_capability, MANAGER)
    rotate_agent_key: AgentPayload = mutation(agent_resolvers.rotate_agent_key, SignedIn)
    submit_agent_feedback: AgentPayload = mutation(agent_resolvers.submit_agent_feedback, MEMBER)

    register_mcp_server: MCPServerPayload = mutation(mcp_resolvers.register_mcp_server, MEMBER,
                                                     name="registerMCPServer")
    connect_mcp_server: AgentPayload = mutation(mcp_resolvers.connect_mcp_server, MEMBER, name="connectMCPServer")
    disconnect_mcp_server: AgentPayload = mutation(mcp_resolvers.disconnect_mcp_server, MEMBER,
                                                   name="disconnectMCPServer")
    report_detected_mcp_servers: ReportDetectedMCPServersPayload = mutation(
        mcp_resolvers.report_detected_mcp_servers, SignedIn, name="reportDetectedMCPServers")

    request_verification_challenge: VerificationChallenge = mutation(verification_resolvers.request_verification_challenge)
    verify_agent: VerifyAgentPayload = mutation(verification_resolvers.verify_agent)
    authorize_action: ActionDecision = mutation(action_resolvers.authorize_action)
    report_action_result: ReportActionResultPayload = mutation(action_resolvers.report_action_result, SignedIn)


def build_schema(settings: Settings) -> strawberry.Schema:
    extensions = [
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        lambda: ErrorCodes(mask=settings.production),
    ]
    if settings.production:
        # The rules are built once: ValidationCache keys on the rule classes, and the limiters make a
        # new class each time they are constructed.
        rules = [*QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
                 *MaxAliasesLimiter(max_alias_count=settings.max_aliases).validation_rules,
                 NoSchemaIntrospectionCustomRule, cost_limit(settings.max_query_cost)]
        extensions += [
            lambda: MaxTokensLimiter(max_token_count=settings.max_tokens),
            lambda: AddValidationRules(rules),
        ]
    return strawberry.Schema(query=Query, mutation=Mutation, subscription=Subscription, extensions=extensions,
                             scalar_overrides=SCALAR_OVERRIDES)
