"""The audit trail: its entries, counts and verification."""
