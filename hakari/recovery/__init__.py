"""Incidents to verified Nova evacuations."""
