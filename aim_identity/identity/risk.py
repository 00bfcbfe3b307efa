"""How much harm an action could do, from its capability's `namespace:verb` segments.

A capability is `namespace[:resource...]:verb` (`db:read`, `db:users:delete`). The namespace (first
segment) and the verb (last segment) are looked up as whole words in the tables below, and the higher
of the two wins: `payment:refund` is CRITICAL for its namespace, `db:drop` for its verb, and
`filesystem:read` stays LOW because `system` is a namespace, not a substring. A wildcard verb covers
every verb, so it is at least HIGH; an unknown verb is MEDIUM. The README shows the same tables."""

from __future__ import annotations

from aim_identity.models import Severity

NAMESPACES: dict[str, Severity] = {
    **dict.fromkeys(("admin", "iam", "payment", "payments", "system"), Severity.CRITICAL),
    **dict.fromkeys(
        ("credential", "credentials", "key", "keys", "secret", "secrets", "token", "tokens"), Severity.HIGH
    ),
}
VERBS: dict[str, Severity] = {
    **dict.fromkeys(("drop", "destroy", "truncate", "impersonate", "escalate"), Severity.CRITICAL),
    **dict.fromkeys(
        ("delete", "remove", "purge", "execute", "exec", "run", "grant", "revoke", "transfer"), Severity.HIGH
    ),
    **dict.fromkeys(
        (
            "write",
            "create",
            "update",
            "modify",
            "patch",
            "put",
            "post",
            "send",
            "upload",
            "export",
            "call",
            "invoke",
            "refund",
            "charge",
            "approve",
        ),
        Severity.MEDIUM,
    ),
    **dict.fromkeys(
        ("read", "get", "list", "query", "search", "view", "describe", "status", "fetch", "head"), Severity.LOW
    ),
}
WILDCARD = Severity.HIGH
UNKNOWN_VERB = Severity.MEDIUM


def risk_level(capability: str) -> Severity:
    segments = capability.split(":")
    namespace, verb = segments[0], segments[-1]
    if namespace == "*":  # everything
        return Severity.CRITICAL
    by_namespace = NAMESPACES.get(namespace, Severity.INFO)
    if len(segments) == 1:  # a namespace alone, with no verb to judge
        return max(by_namespace, UNKNOWN_VERB)
    by_verb = WILDCARD if verb == "*" else VERBS.get(verb, UNKNOWN_VERB)
    return max(by_namespace, by_verb)
