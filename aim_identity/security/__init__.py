"""Threats and the responses to them."""
