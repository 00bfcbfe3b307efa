"""Strawberry types, one package per domain (types, inputs, payloads), and the machinery they share
in `core`. The schema itself is composed in `aim_identity.api`."""
