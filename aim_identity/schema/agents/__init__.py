"""Agents: identity, capabilities and trust."""
