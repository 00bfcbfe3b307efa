"""Background loops, run by `aimctl worker` (and inside `aimctl serve` in development)."""
