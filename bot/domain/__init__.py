"""The colony state as pure code: events in, state and read models out. No I/O here.

Every projection is either "the newest by game time wins" (ties broken by source, offset and event
id, a total order) or a commutative sum, so applying the same events in any order, one batch at a
time or all at once in `colony-bot rebuild`, yields the same state (DESIGN section 5).
"""
