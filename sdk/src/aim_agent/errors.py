"""What the SDK raises. Every error is an `AIMError`; a denial is also a `PermissionError`, so code
that already handles refusals handles AIM's."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aim_agent.identity import Decision


class AIMError(Exception):
    """AIM refused a request; `code` is the contract's `extensions.code` (NOT_FOUND, FORBIDDEN, ...)."""

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.code = code


class AIMUnavailable(AIMError):
    """AIM could not be reached, or did not answer as a GraphQL server does."""


class VerificationFailed(AIMError):
    """The challenge-response did not verify; `reason` is the contract's VerificationFailureReason."""

    def __init__(self, message: str, reason: str | None) -> None:
        super().__init__(message, "VERIFICATION_FAILED")
        self.reason = reason


class UnknownIdentity(AIMError):
    """AIM no longer knows the stored agent, or no longer accepts its key. The SDK never registers
    a replacement by itself: that is a person's decision (`aim-agent forget`, or a new name)."""


class ActionDenied(AIMError, PermissionError):
    """AIM denied the action, and the guarded function did not run."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"AIM denied {decision.capability}: {decision.reason}", "ACTION_DENIED")
        self.decision = decision


class KeyStoreError(AIMError):
    """The stored identity could not be read or written safely."""
