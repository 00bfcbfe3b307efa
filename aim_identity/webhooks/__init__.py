"""Webhooks: an organization's events POSTed to receivers it names, signed, in order, retried."""
