"""MCP servers and the agents that talk to them."""
