"""Domain events: written to the outbox in the mutation's transaction, relayed to the broker."""
