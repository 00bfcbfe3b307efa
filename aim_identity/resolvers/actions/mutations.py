from __future__ import annotations

from aim_identity import ids
from aim_identity.identity import actions
from aim_identity.models import Role
from aim_identity.schema.actions.inputs import AuthorizeActionInput, ReportActionResultInput
from aim_identity.schema.actions.payloads import ReportActionResultPayload
from aim_identity.schema.actions.types import ActionDecision
from aim_identity.schema.core.context import Info


async def authorize_action(info: Info, input: AuthorizeActionInput) -> ActionDecision:
    decision = await actions.authorize(
        info.context.actor,
        info.context.settings,
        ids.decode(input.agent_id, "Agent"),
        input.capability,
        input.resource,
        input.context,
        input.timestamp,
        input.nonce,
        input.signature,
    )
    return ActionDecision.of(decision)


async def report_action_result(info: Info, input: ReportActionResultInput) -> ReportActionResultPayload:
    """The agent reports on its own decisions with its agent token; members may report for any agent."""
    principal = info.context.require_self_or(Role.MEMBER)
    await actions.report_result(
        info.context.actor,
        info.context.settings,
        ids.decode(input.decision_id, "ActionDecision"),
        principal.agent_id,
        input.success,
        input.error,
    )
    return ReportActionResultPayload(ok=True)
