"""Finding, ordering and reading the game's journal files (bytes in, complete lines out)."""
