"""When each retired signing key was first seen retired, so that it leaves the JWKS once its tokens have expired."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("aim", "0009_feedback_once_per_person")]

    initial = False

    operations = [
        ops.CreateModel(
            name="RetiredSigningKey",
            fields=[
                ("kid", fields.CharField(primary_key=True, unique=True, db_index=True, max_length=16)),
                ("retired_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "retired_signing_keys",
                "app": "aim",
                "pk_attr": "kid",
                "table_description": "When each retired secret's signing key was first seen retired, by every "
                "replica alike: the key",
            },
            bases=["Model"],
        ),
    ]
