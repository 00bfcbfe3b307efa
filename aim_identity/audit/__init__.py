"""The tamper-evident audit trail: a per-organization SHA-256 hash chain, its verification, signed
checkpoints, reading, exports and compliance reports."""
