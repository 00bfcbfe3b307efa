"""What the live feeds deliver."""
