"""The local HTTP API (FastAPI): signed requests, strict bodies, the contract's errors and statuses.

``daemon.api.app.create_app`` builds the application; this package imports nothing itself, so the signing
client (``daemon.client``) stays light.
"""
