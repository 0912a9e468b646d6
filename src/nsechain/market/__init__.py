"""nsechain.market: when NSE trades, what it lists, and what to fetch each tick.

Where it sits: between the NSE client/parser (bodies and parsed objects come in) and the
collector (which asks these pure modules what to do). No HTTP here.

- ``calendar``: ``NseCalendar`` sessions, market state, next open/close, ``describe``;
- ``holidays``: NSE's holiday master parsed, cached per year, offline fallbacks;
- ``universe``: the F&O underlyings, selection, expiry bookkeeping, cache, bundled list;
- ``plan``: the per-tick request plan within the rate budget, and ``render_plan``;
- ``rate``: ``AimdRate``, the adaptive budget; ``shard``: ``--shard i/N`` by stable hash.

The package itself holds two NSE facts, ``INDEX_SYMBOLS`` and ``WEEKLY_SYMBOLS``, and imports
nothing: ``config`` (the
floor above) reads it for its default symbols.
"""

__all__ = ["INDEX_SYMBOLS", "WEEKLY_SYMBOLS"]

#: NSE's index underlyings (``type=Indices`` on the v3 endpoint); everything else is ``Equity``.
INDEX_SYMBOLS: tuple[str, ...] = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY", "NIFTYNXT50")

#: Underlyings with weekly expiries (2026: NIFTY only); the rest expire monthly.
WEEKLY_SYMBOLS: frozenset[str] = frozenset({"NIFTY"})
