"""The bot's logic between the edges (HTTP, CLI, Discord) and the store; nothing here knows Discord."""
