"""Indexes for the open-challenge cap (agent, expiry), the purge of expired challenges (expiry),
reading one organization's outbox back after a lost broker subscription (organization, id), and
finding stale trust scores (computed at)."""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("aim", "0003_organization_data_version")]

    operations = [
        ops.AlterModelOptions(
            name="AuditChainHead",
            options={
                "table": "audit_chain_heads",
                "app": "aim",
                "pk_attr": "organization_id",
                "table_description": "The last link of each organization chain. Locking it serialises appends.",
            },
        ),
        # Indexes only: on SQLite an altered field rebuilds its table, and the rebuild loses unique_together.
        ops.AddIndex(model_name="VerificationChallenge", index=Index(fields=["agent_id", "expires_at"])),
        ops.AddIndex(model_name="VerificationChallenge", index=Index(fields=["expires_at"])),
        ops.AddIndex(model_name="OutboxEvent", index=Index(fields=["organization_id", "id"])),
        ops.AddIndex(model_name="Agent", index=Index(fields=["trust_computed_at"])),
    ]
