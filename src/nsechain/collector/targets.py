"""What to fetch: the universe, its live expiries, and this tick's (symbol, expiry) pairs.

Where it sits: between the collector (which does the HTTP and hands parsed answers back) and the
pure market modules: ``market.universe`` (what exists), ``market.plan`` (what fits the budget),
``market.rate`` (the budget after 403 blocks). It keeps the current plan and rebuilds it when
the universe, an expiry list or the effective rate changes; the only I/O is the universe cache.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from datetime import date, datetime

from nsechain.config import Settings
from nsechain.market.expiries import predict_expiries
from nsechain.market.plan import Plan, TierRule, make_plan, tick_number
from nsechain.market.plan import default_policy as _policy
from nsechain.market.rate import AimdRate
from nsechain.market.shard import Shard, parse_shard
from nsechain.market.universe import (
    Selection,
    UnderlyingLike,
    Universe,
    load_universe_cache,
    save_universe_cache,
)
from nsechain.timeutil import IST

__all__ = ["Targets", "build_universe"]

log = logging.getLogger(__name__)


def build_universe(settings: Settings) -> tuple[Universe, list[str]]:
    """The selected universe from the cache (or the bundled list), and unknown symbols named."""
    return _selected(_base(settings), settings)


def _base(settings: Settings) -> Universe:
    return load_universe_cache(settings.market_dir) or Universe.bundled()


def _selected(base: Universe, settings: Settings) -> tuple[Universe, list[str]]:
    selection = _selection(settings)
    unknown = [s for s in base.unknown(selection) if s not in selection.exclude]
    return _restrict(base, settings), unknown


def _selection(settings: Settings) -> Selection:
    return Selection.of(
        settings.symbols, exclude=settings.exclude_symbols, kind=settings.universe_kind
    )


def _shard(settings: Settings) -> Shard | None:
    return parse_shard(settings.shard) if settings.shard else None


def _restrict(universe: Universe, settings: Settings) -> Universe:
    chosen = universe.select(_selection(settings))
    shard = _shard(settings)
    return chosen.shard(shard) if shard is not None else chosen


class Targets:
    """Mutable holder of the immutable Universe and the Plan derived from it."""

    def __init__(self, settings: Settings, *, speed: float = 1.0) -> None:
        self.settings = settings
        #: Clock seconds per wall second (``collector/clock.py``); 1 on the wall clock.
        self.speed = speed
        base = _base(settings)
        #: NSE's whole list: the cache keeps it, so that a restart with other ``--symbols`` or
        #: another ``--shard`` still knows every symbol (``self.universe`` is this share only).
        self._listed = base.listings
        self.universe, unknown = _selected(base, settings)
        if unknown:
            log.warning(
                "symbols not in NSE's F&O list (as of %s): %s; they are tried anyway",
                self.universe.as_of,
                ",".join(unknown),
            )
        self.rate = AimdRate(settings.rate)
        self._plan: Plan | None = None
        self._dirty = False  # the universe changed since the cache was last saved
        self._predicted_for: Universe | None = None  # the universe last checked for gaps

    # --- universe ---------------------------------------------------------------------------
    @property
    def symbols(self) -> tuple[str, ...]:
        return self.universe.symbols

    def universe_due(self, now: datetime) -> bool:
        return self.universe.universe_due(now)

    def set_universe(self, listed: Sequence[UnderlyingLike], now: datetime) -> None:
        fresh = Universe.of(listed, source="nse", as_of=now.astimezone(IST).date())
        self._listed = fresh.listings
        self.universe = self.universe.replace_listings(_restrict(fresh, self.settings))
        self._changed()

    def universe_failed(self, now: datetime) -> None:
        self.universe = self.universe.universe_failed(now)

    # --- expiries ---------------------------------------------------------------------------
    def expiries_due(self, now: datetime) -> list[str]:
        dropped = self.universe.drop_passed(now)
        if dropped is not self.universe:
            self.universe = dropped
            self._changed()
        return self.universe.expiries_due(now)

    def set_expiries(self, symbol: str, dates: Sequence[date], now: datetime) -> None:
        self.universe = self.universe.with_expiries(symbol, dates, now)
        self._changed()

    def expiries_failed(self, symbol: str, now: datetime) -> None:
        self.universe = self.universe.expiries_failed(symbol, now)

    def predict_missing(self, now: datetime) -> list[str]:
        """Give every symbol without an expiry list the one NSE's rules predict.

        The symbol stays due for a contract-info refresh (no refresh time is recorded), so the
        prediction is verified at low priority; a wrong expiry answers empty and flags it.
        Returns the symbols predicted.
        """
        if self._predicted_for is self.universe:
            return []
        missing = [s for s in self.universe.symbols if not self.universe.expiries.get(s)]
        if missing:
            guessed = {s: predict_expiries(s, now) for s in missing}
            self.universe = dataclasses.replace(
                self.universe, expiries={**self.universe.expiries, **guessed}
            )
            self._plan = None
            log.info("expiries predicted from NSE's rules symbols=%d", len(missing))
        self._predicted_for = self.universe
        return missing

    def mark_stale_expiries(self, symbol: str) -> None:
        """A fetch came back empty (NSE's answer to a wrong expiry): refresh before long."""
        self.universe = self.universe.mark_empty(symbol)

    # --- rate -------------------------------------------------------------------------------
    def on_block(self) -> float:
        """A 403 rate block: halve the effective budget and re-plan."""
        rate = self.rate.on_block()
        self._plan = None
        log.warning("rate lowered after a block effective_rate=%.2f", rate)
        return rate

    def on_clean_tick(self) -> float:
        if self.rate.reduced:
            self.rate.on_success_tick()
            self._plan = None
        return self.rate.current

    # --- the plan ---------------------------------------------------------------------------
    @property
    def plan_now(self) -> Plan:
        """The plan for the effective budget. The budget is requests per WALL second (NSE
        counts real seconds), so the plan is made for a tick's wall length: ``interval_s``
        clock seconds are ``interval_s / speed`` wall seconds (``interval_s`` on the wall
        clock). The plan's own ``interval_s`` is therefore wall seconds."""
        if self._plan is None:
            s = self.settings
            self._plan = make_plan(
                self.universe.plan_items(s.expiries_per_symbol or None),
                budget=self.rate.current,
                interval_s=s.interval_s / self.speed,
                headroom=s.plan_headroom,
                policy=policy_of(s),
                shard=_shard(s),
            )
        return self._plan

    def plan(self, now: datetime) -> list[tuple[str, date]]:
        """The pairs of the tick ``now`` falls in: numbered by ``now``'s clock (wall time by
        default), so restarts keep the round-robin order."""
        k = tick_number(now, self.settings.interval_s)
        return [(p.symbol, p.expiry) for p in self.plan_now.tick(k)]

    def _changed(self) -> None:
        self._plan = None
        self._dirty = True

    def save_cache(self) -> None:
        """Persist universe and expiries once per refresh pass, so a restart skips ~215 calls."""
        if not self._dirty:
            return
        try:
            whole = dataclasses.replace(self.universe, listings=self._listed)
            save_universe_cache(self.settings.market_dir, whole)
            self._dirty = False
        except OSError as exc:  # a cache, not data: say so and carry on
            log.warning("universe cache not saved dir=%s error=%r", self.settings.market_dir, exc)


def policy_of(settings: Settings) -> tuple[TierRule, ...]:
    return _policy(
        index_near=settings.plan_index_near,
        index_weight=settings.plan_weight_index,
        stock_weight=settings.plan_weight_stock,
        far_weight=settings.plan_weight_far,
    )
