"""Runtime authorization of agents' actions."""
