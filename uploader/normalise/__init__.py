"""Journal lines to wire events, with the context the game leaves out attached."""
