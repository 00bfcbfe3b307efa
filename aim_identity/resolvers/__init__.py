"""Query and mutation resolvers, one module per domain: check, call the domain, shape the output."""
