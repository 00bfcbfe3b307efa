"""An index for reading an MCP server's agents (and cascading its deletion): the link table's unique
index leads with the agent, so finding a server's links scanned the whole table."""

from tortoise import migrations
from tortoise.indexes import Index
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("aim", "0005_outbox_notify")]

    operations = [
        ops.AddIndex(model_name="AgentMCPServer", index=Index(fields=["mcp_server_id"])),
    ]
