"""The commander-side uploader: tail the journals, normalise, keep a durable outbox, send in batches."""

__version__ = "0.1.0"
