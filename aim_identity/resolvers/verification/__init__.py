"""Challenge-response verification."""
