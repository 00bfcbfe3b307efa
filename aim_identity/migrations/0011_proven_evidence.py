"""Which verification answers and action requests were signed by one of the agent's keys: only those
count as its evidence."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("aim", "0010_retired_signing_keys")]

    initial = False

    operations = [
        ops.AddField(
            model_name="ActionDecision",
            name="proven",
            field=fields.BooleanField(default=True, db_default=True),
        ),
        ops.AddField(
            model_name="VerificationEvent",
            name="proven",
            field=fields.BooleanField(default=True, db_default=True),
        ),
    ]
