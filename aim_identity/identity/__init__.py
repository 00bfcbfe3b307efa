"""The business rules of agent identity: keys, challenges, capabilities and trust."""
