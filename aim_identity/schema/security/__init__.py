"""Threats and anomalies."""
