"""Pure rendering: read models in, Discord embeds and plain text out. No I/O, no state.

`limits` is the one place Discord's size rules are enforced; every builder ends there.
"""
