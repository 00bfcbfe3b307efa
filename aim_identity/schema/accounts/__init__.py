"""People and organizations."""
