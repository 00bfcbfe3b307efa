"""The live feeds (subscriptions)."""
