"""`colony-bot demo`: a self-contained squadron scenario on generated journals."""
