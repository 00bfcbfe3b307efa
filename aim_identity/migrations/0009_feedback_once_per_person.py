"""A person rates an agent once: their latest rating replaces the earlier ones, which are removed here
before the unique index is made."""

from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise.migrations.constraints import UniqueConstraint

KEEP_LATEST = """
DELETE FROM agent_feedback WHERE user_id IS NOT NULL AND id NOT IN (
    SELECT id FROM (
        SELECT id, ROW_NUMBER() OVER (PARTITION BY agent_id, user_id ORDER BY created_at DESC, id DESC) AS n
        FROM agent_feedback WHERE user_id IS NOT NULL
    ) AS ranked WHERE n = 1
)"""


async def keep_each_persons_latest(apps, schema_editor) -> None:
    await schema_editor.client.execute_script(KEEP_LATEST)


class Migration(migrations.Migration):
    dependencies = [("aim", "0008_agent_live_names")]

    operations = [
        ops.RunPython(keep_each_persons_latest),
        ops.AddConstraint(model_name="AgentFeedback", constraint=UniqueConstraint(fields=("agent", "user"), name=None)),
    ]
