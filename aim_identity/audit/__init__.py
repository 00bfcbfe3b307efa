"""The tamper-evident audit trail: a per-organization SHA-256 hash chain."""
