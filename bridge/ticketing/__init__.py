"""Ticketing: incidents, their lifecycle and the stored state the pipeline works on."""
