"""AIM: identity, trust and security for AI agents and the MCP servers they talk to."""
