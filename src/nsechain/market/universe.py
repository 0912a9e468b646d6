"""The F&O universe: which underlyings to record, and the live expiries of each.

Where it sits: between the parser and the planner. The collector fetches
``/api/underlying-information`` (daily, before the open) and ``contract-info`` per symbol, parses
them, and hands the results to an immutable ``Universe`` (each update returns a new one);
``Universe.plan_items`` feeds ``market.plan.make_plan``. No HTTP here; the only I/O is the small
JSON cache (``load_universe_cache`` / ``save_universe_cache``) and reading the bundled list.

Expiry bookkeeping (DESIGN.md §2): an expiry is live until 15:30 IST on its date (inclusive, as
the calendar's close). A symbol's expiries are refreshed when missing, once per IST day, when
one of them has passed, and when a fetch came back empty (NSE's answer to a wrong expiry) —
the last at most every ``EMPTY_REFRESH_GAP``, so an expiry NSE lists but serves empty cannot
turn into a refresh per tick.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal, Protocol

import orjson

from nsechain.errors import BadPayload
from nsechain.market import INDEX_SYMBOLS
from nsechain.market._fsio import AtomicWrite, atomic_write_bytes
from nsechain.market.plan import PlanItem
from nsechain.market.shard import Shard
from nsechain.timeutil import IST

__all__ = [
    "EMPTY_REFRESH_GAP",
    "EXPIRY_CUTOFF",
    "REFRESH_RETRY",
    "Kind",
    "Listing",
    "Selection",
    "UnderlyingLike",
    "Universe",
    "is_live",
    "load_universe_cache",
    "save_universe_cache",
    "universe_cache_path",
    "universe_from_json",
    "universe_to_json",
]

log = logging.getLogger(__name__)

EXPIRY_CUTOFF = time(15, 30)
EMPTY_REFRESH_GAP = timedelta(minutes=5)
#: After a failed contract-info call, ask again after this long (the ticks keep running).
REFRESH_RETRY = timedelta(minutes=2)
FORMAT = 1
_BUNDLED = "universe_fallback.json"

Kind = Literal["all", "indices", "stocks"]


class UnderlyingLike(Protocol):
    """What the parser's ``Underlying`` offers (``nse.parse.parse_universe``)."""

    @property
    def symbol(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def is_index(self) -> bool: ...


@dataclass(frozen=True, slots=True)
class Listing:
    """One F&O underlying."""

    symbol: str
    name: str
    is_index: bool


def is_live(expiry: date, now: datetime) -> bool:
    """True until 15:30 IST on the expiry date, inclusive."""
    return now <= datetime.combine(expiry, EXPIRY_CUTOFF, tzinfo=IST)


@dataclass(frozen=True, slots=True)
class Selection:
    """Which underlyings to record. Empty ``include`` means all (of ``kind``)."""

    include: frozenset[str] = frozenset()
    exclude: frozenset[str] = frozenset()
    kind: Kind = "all"

    @classmethod
    def of(
        cls, symbols: Sequence[str] = ("ALL",), *, exclude: Iterable[str] = (), kind: Kind = "all"
    ) -> Selection:
        """From settings: ``symbols`` is a list of symbols, or ``["ALL"]``."""
        wanted = {s.strip().upper() for s in symbols if s.strip()}
        include = frozenset() if wanted == {"ALL"} else frozenset(wanted)
        return cls(include, frozenset(s.strip().upper() for s in exclude), kind)

    def admits(self, listing: Listing) -> bool:
        if listing.symbol in self.exclude or (self.include and listing.symbol not in self.include):
            return False
        return self.kind == "all" or listing.is_index == (self.kind == "indices")


@dataclass(frozen=True, slots=True)
class Universe:
    """Underlyings (indices first, then stocks by symbol) and their expiry state."""

    listings: tuple[Listing, ...]
    source: str = "nse"
    as_of: date | None = None  # the IST day NSE's list was fetched
    expiries: Mapping[str, tuple[date, ...]] = field(default_factory=dict)
    refreshed_at: Mapping[str, datetime] = field(default_factory=dict)
    flagged: frozenset[str] = frozenset()  # a fetch came back empty
    retry_at: Mapping[str, datetime] = field(default_factory=dict)
    listing_retry_at: datetime | None = None  # underlying-information failed: wait till then

    # --- building --------------------------------------------------------------------------
    @classmethod
    def of(
        cls, items: Iterable[UnderlyingLike], *, source: str = "nse", as_of: date | None = None
    ) -> Universe:
        listings = {}
        for item in items:
            symbol = item.symbol.strip().upper()
            listings[symbol] = Listing(symbol, item.name.strip() or symbol, bool(item.is_index))
        return cls(_ordered(listings.values()), source, as_of)

    @classmethod
    def bundled(cls) -> Universe:
        """The list shipped with nsechain (NSE's, 2026-07-24): for when NSE and the cache fail."""
        doc = orjson.loads(_bundled_bytes())
        items = [Listing(e["symbol"], e["name"], True) for e in doc["indices"]]
        items += [Listing(e["symbol"], e["name"], False) for e in doc["stocks"]]
        return cls.of(items, source="bundled", as_of=date.fromisoformat(doc["as_of"]))

    def replace_listings(self, fresh: Universe) -> Universe:
        """Adopt ``fresh``'s underlyings (today's NSE list), keeping what we know of expiries."""
        kept = self._restrict(fresh.listings)
        return dataclasses.replace(
            kept, source=fresh.source, as_of=fresh.as_of, listing_retry_at=None
        )

    # --- looking up ------------------------------------------------------------------------
    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(listing.symbol for listing in self.listings)

    def get(self, symbol: str) -> Listing | None:
        return next((x for x in self.listings if x.symbol == symbol), None)

    def __len__(self) -> int:
        return len(self.listings)

    def universe_due(self, now: datetime) -> bool:
        """NSE's list is from another IST day (or a fallback): fetch it, unless retrying later."""
        if self.listing_retry_at is not None and now < self.listing_retry_at:
            return False
        return self.source not in ("nse", "cache") or self.as_of != now.astimezone(IST).date()

    def universe_failed(self, now: datetime) -> Universe:
        """underlying-information failed: keep this list, ask again after ``REFRESH_RETRY``."""
        return dataclasses.replace(self, listing_retry_at=now + REFRESH_RETRY)

    # --- selecting -------------------------------------------------------------------------
    def select(self, selection: Selection) -> Universe:
        """Only the admitted underlyings. Included symbols NSE does not list are kept (as
        stocks unless in ``INDEX_SYMBOLS``): the list may be a stale fallback. Warn with
        ``unknown``."""
        extra = [
            Listing(s, s, s in INDEX_SYMBOLS) for s in sorted(selection.include - set(self.symbols))
        ]
        chosen = [x for x in (*self.listings, *extra) if selection.admits(x)]
        return self._restrict(_ordered(chosen))

    def unknown(self, selection: Selection) -> list[str]:
        """Symbols the selection names that this universe does not list (typos, delistings)."""
        return sorted((selection.include | selection.exclude) - set(self.symbols))

    def shard(self, shard: Shard) -> Universe:
        """The underlyings ``shard`` needs: the stocks it owns and every index, whose expiries
        the shards split (``make_plan(shard=…)`` keeps the pairs; ``market/shard.py``)."""
        return self._restrict(tuple(x for x in self.listings if shard.needs(x.symbol, x.is_index)))

    def _restrict(self, listings: tuple[Listing, ...]) -> Universe:
        keep = {x.symbol for x in listings}
        return dataclasses.replace(
            self,
            listings=listings,
            expiries={s: e for s, e in self.expiries.items() if s in keep},
            refreshed_at={s: t for s, t in self.refreshed_at.items() if s in keep},
            flagged=self.flagged & keep,
            retry_at={s: t for s, t in self.retry_at.items() if s in keep},
        )

    # --- expiries --------------------------------------------------------------------------
    def expiries_due(self, now: datetime) -> list[str]:
        """Symbols whose expiries to (re)fetch now, in universe order."""
        today = now.astimezone(IST).date()
        due = []
        for symbol in self.symbols:
            retry = self.retry_at.get(symbol)
            if retry is not None and now < retry:
                continue
            at = self.refreshed_at.get(symbol)
            if (
                at is None
                or not self.expiries.get(symbol)
                or at.astimezone(IST).date() != today
                or (symbol in self.flagged and now - at >= EMPTY_REFRESH_GAP)
            ):
                due.append(symbol)
        return due

    def with_expiries(self, symbol: str, expiries: Iterable[date], now: datetime) -> Universe:
        """Record a fresh contract-info answer: the live expiries, sorted."""
        live = tuple(sorted({e for e in expiries if is_live(e, now)}))
        return dataclasses.replace(
            self,
            expiries={**self.expiries, symbol: live},
            refreshed_at={**self.refreshed_at, symbol: now},
            flagged=self.flagged - {symbol},
            retry_at=_without(self.retry_at, symbol),
        )

    def expiries_failed(self, symbol: str, now: datetime) -> Universe:
        """contract-info failed: keep what we had, ask again after ``REFRESH_RETRY``."""
        return dataclasses.replace(self, retry_at={**self.retry_at, symbol: now + REFRESH_RETRY})

    def mark_empty(self, symbol: str) -> Universe:
        """A chain fetch returned ``records.data == []``: refresh this symbol's expiries."""
        return dataclasses.replace(self, flagged=self.flagged | {symbol})

    def drop_passed(self, now: datetime) -> Universe:
        """Forget expiries past their 15:30 IST cutoff; their symbols become due for refresh."""
        kept = {s: tuple(e for e in exp if is_live(e, now)) for s, exp in self.expiries.items()}
        changed = {s for s, exp in kept.items() if len(exp) != len(self.expiries[s])}
        if not changed:
            return self
        # Dropping the refresh time makes ``expiries_due`` ask for these symbols at once.
        refreshed = {s: t for s, t in self.refreshed_at.items() if s not in changed}
        return dataclasses.replace(self, expiries=kept, refreshed_at=refreshed)

    def plan_items(self, max_expiries: int | None = None) -> tuple[PlanItem, ...]:
        """The planner's input: underlyings with at least one known expiry, nearest first."""
        items = []
        for x in self.listings:
            expiries = self.expiries.get(x.symbol, ())[:max_expiries]
            if expiries:
                items.append(PlanItem(x.symbol, x.is_index, expiries))
        return tuple(items)


def _ordered(listings: Iterable[Listing]) -> tuple[Listing, ...]:
    # NSE's index order (NIFTY first), then the stocks by symbol: a stable, readable order.
    rank = {s: n for n, s in enumerate(INDEX_SYMBOLS)}
    return tuple(
        sorted(listings, key=lambda x: (not x.is_index, rank.get(x.symbol, len(rank)), x.symbol))
    )


def _without(mapping: Mapping[str, datetime], key: str) -> dict[str, datetime]:
    return {k: v for k, v in mapping.items() if k != key}


@cache
def _bundled_bytes() -> bytes:
    return resources.files("nsechain.market").joinpath(_BUNDLED).read_bytes()


# --- disk cache ----------------------------------------------------------------------------


def universe_to_json(universe: Universe) -> bytes:
    doc: dict[str, Any] = {
        "format": FORMAT,
        "source": universe.source,
        "as_of": universe.as_of.isoformat() if universe.as_of else None,
        "listings": [dataclasses.asdict(x) for x in universe.listings],
        "expiries": {s: [e.isoformat() for e in exp] for s, exp in universe.expiries.items()},
        "refreshed_at": {s: t.isoformat() for s, t in universe.refreshed_at.items()},
    }
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2)


def universe_from_json(body: bytes) -> Universe:
    """Inverse of ``universe_to_json`` (flags and retry timers are not kept). ``BadPayload``
    on a damaged file."""
    try:
        doc = orjson.loads(body)
        if doc["format"] != FORMAT:
            raise ValueError(f"unknown format {doc['format']!r}")
        listings = [Listing(x["symbol"], x["name"], bool(x["is_index"])) for x in doc["listings"]]
        base = Universe.of(listings, source=doc["source"], as_of=_opt_date(doc["as_of"]))
        return dataclasses.replace(
            base,
            expiries={s: tuple(map(date.fromisoformat, e)) for s, e in doc["expiries"].items()},
            refreshed_at={s: datetime.fromisoformat(t) for s, t in doc["refreshed_at"].items()},
        )
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise BadPayload(f"universe cache: unreadable ({exc!r})") from None


def _opt_date(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def universe_cache_path(cache_dir: Path) -> Path:
    return cache_dir / "universe.json"


def load_universe_cache(cache_dir: Path) -> Universe | None:
    """The cached universe (``source="cache"``), or None when absent or unreadable."""
    path = universe_cache_path(cache_dir)
    try:
        cached = universe_from_json(path.read_bytes())
    except FileNotFoundError:
        return None
    except (OSError, BadPayload) as exc:
        log.warning("ignoring universe cache %s: %s", path, exc)
        return None
    return dataclasses.replace(cached, source="cache" if cached.source == "nse" else cached.source)


def save_universe_cache(
    cache_dir: Path, universe: Universe, *, write: AtomicWrite = atomic_write_bytes
) -> Path:
    path = universe_cache_path(cache_dir)
    write(path, universe_to_json(universe))
    return path
