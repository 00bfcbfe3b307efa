"""MCP servers: the registry, and which agents talk to which servers."""
