"""The MCP server registry and who talks to which server."""
