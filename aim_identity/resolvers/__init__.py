"""Query, mutation and subscription resolvers, one package per domain: each checks, calls the domain,
and shapes the answer. Global IDs are decoded here, at the edge; the domains take UUIDs."""
