"""The squadron's bot: HTTP intake, event store, colony state, Discord face."""

__version__ = "0.1.0"
