"""Run outputs for people: console summaries and figures."""
