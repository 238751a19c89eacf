"""The HTTP API (Flask + flask-smorest): webhooks in, queries and commands for operators."""
