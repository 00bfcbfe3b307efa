"""Sign-up codes sent to addresses (AIM_REGISTRATION=verified), kept as their SHA-256."""

from tortoise import fields, migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("aim", "0011_proven_evidence")]

    initial = False

    operations = [
        ops.CreateModel(
            name="RegistrationCode",
            fields=[
                ("id", fields.BigIntField(generated=True, primary_key=True, unique=True, db_index=True)),
                ("email", fields.CharField(db_index=True, max_length=320)),
                ("code_hash", fields.CharField(max_length=64)),
                ("tries", fields.SmallIntField(default=0)),
                ("expires_at", fields.DatetimeField(db_index=True, auto_now=False, auto_now_add=False)),
                ("created_at", fields.DatetimeField(auto_now=False, auto_now_add=True)),
            ],
            options={
                "table": "registration_codes",
                "app": "aim",
                "pk_attr": "id",
                # No semicolon: Tortoise's SQLite client splits its script on them, comments included.
                "table_description": "A sign-up code sent to an address (auth/registration.py), kept only as its SHA-256.",
            },
            bases=["Model"],
        ),
    ]
