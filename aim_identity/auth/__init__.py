"""Who is calling: passwords, tokens, API keys, sessions, the brute-force guard and roles."""
