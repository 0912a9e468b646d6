"""nsechain.market: when NSE trades, what it lists, and what to fetch each tick.

Where it sits: between the NSE client/parser (bodies and parsed objects come in) and the
collector (which asks these pure modules what to do). No HTTP here.

- ``calendar``: ``NseCalendar`` sessions, market state, next open/close, ``describe``;
- ``holidays``: NSE's holiday master parsed, cached per year, offline fallbacks;
- ``universe``: the F&O underlyings, selection, expiry bookkeeping, cache, bundled list;
- ``plan``: the per-tick request plan within the rate budget, and ``render_plan``;
- ``rate``: ``AimdRate``, the adaptive budget; ``shard``: ``--shard i/N`` by stable hash.
"""
