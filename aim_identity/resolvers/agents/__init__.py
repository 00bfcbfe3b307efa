"""Agents: their lifecycle, capabilities, keys and feedback."""
