from __future__ import annotations

from aim_identity.identity import actions
from aim_identity.models import Role
from aim_identity.schema.actions import ActionDecision, AuthorizeActionInput, ReportActionResultInput, ReportActionResultPayload
from aim_identity.schema.context import Info


async def authorize_action(info: Info, input: AuthorizeActionInput) -> ActionDecision:
    decision = await actions.authorize(info.context.actor, info.context.settings, input.agent_id, input.capability,
                                       input.resource, input.context, input.timestamp, input.nonce, input.signature)
    return ActionDecision.of(decision)


async def report_action_result(info: Info, input: ReportActionResultInput) -> ReportActionResultPayload:
    """The agent reports on its own decisions with its agent token; members may report for any agent."""
    principal = info.context.require_self_or(Role.MEMBER)
    await actions.report_result(info.context.actor, info.context.settings, input.decision_id,
                                principal.agent_id, input.success, input.error)
    return ReportActionResultPayload(ok=True)
