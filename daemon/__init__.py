"""The long-running shell: store, services, workers, API and CLI."""
