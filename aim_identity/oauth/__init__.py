"""AIM as the OAuth 2.1 authorization server MCP servers trust: agents get tokens bound to one
registered MCP server (RFC 8707, RFC 9068), servers introspect (RFC 7662) and revoke (RFC 7009)."""
