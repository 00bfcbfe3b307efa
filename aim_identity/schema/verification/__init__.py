"""Challenge-response verification of agents."""
