"""Telling: what a diagnosis becomes for people and for later runs: alert state (alerting,
urgency), notifications (notification, message_text, publish), the store (store/, run_store),
history, evidence packs, the JSON and text reports, EMF metrics. Called by entry/ (pipeline.py for
scheduled runs, cli.py for the command)."""
