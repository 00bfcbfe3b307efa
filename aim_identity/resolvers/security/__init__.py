"""The security engine: threats, anomalies, metrics and policies."""
