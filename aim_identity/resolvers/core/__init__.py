"""Resolvers that belong to no one domain."""
