"""A spent action nonce is kept on the decision it was spent on, whose unique (agent, nonce) refuses a
replay, so `authorizeAction` writes one row where it wrote two and pruned a third table. An agent whose
allowed actions are waiting to be scored is marked with `trust_due_at` (identity/scoring.py).

The nonces `action_nonces` held go with it. A request accepted within the clock-skew window before
the upgrade could therefore be accepted once more just after it; stop the API for that window
(`AIM_ACTION_CLOCK_SKEW`, 60 s by default) while upgrading to rule that out."""

from tortoise import fields, migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint


class Migration(migrations.Migration):
    dependencies = [("aim", "0013_mcp_servers_complete")]

    initial = False

    operations = [
        ops.AddField(model_name="ActionDecision", name="nonce", field=fields.CharField(null=True, max_length=128)),
        ops.AddConstraint(
            model_name="ActionDecision", constraint=UniqueConstraint(fields=("agent", "nonce"), name=None)
        ),
        ops.AddField(
            model_name="Agent",
            name="trust_due_at",
            field=fields.DatetimeField(null=True, auto_now=False, auto_now_add=False),
        ),
        ops.AddIndex(model_name="Agent", index=Index(fields=["trust_due_at"])),
        ops.DeleteModel(name="ActionNonce"),
    ]
