"""The request plan: which (symbol, expiry) pairs to fetch on each tick, within the rate budget.

Where it sits: pure. The collector builds a ``Plan`` from the universe (``Universe.plan_items``)
and the effective budget (``AimdRate.current``), then fetches ``plan.tick(k)`` on tick ``k``;
``nsechain plan`` prints ``render_plan(plan.summary())``. Sharding (``market/shard.py``) splits
the pairs between collectors on different IPs: ``make_plan(shard=…)`` ranks every expiry of an
item first, then keeps the pairs the shard owns, so a pair's tier is the same in every shard.

How it plans. Each pair falls into the first tier of the policy that matches it (index or
stock, expiry rank: 0 = nearest). A tier with cadence ``c`` splits its pairs round-robin into
``c`` groups and fetches group ``k mod c`` on tick ``k``, so every pair is fetched exactly once
every ``c`` ticks (its bound, ``max_period``) and a tick carries at most ``ceil(n / c)`` of the
tier. Cadences are chosen so that the sum of those maxima never exceeds the capacity,
``floor(budget * interval * (1 - headroom))``; the headroom is left for retries and expiry
refreshes. Choosing them:

1. weights are relative per-pair frequencies: find the fastest schedule in which a tier of
   weight ``w`` is fetched about ``w`` times as often as the lowest-weight tier;
2. spend what that leaves over by priority (highest weight first), never making a tier faster
   than a higher-priority one.

The default policy: indices' two nearest expiries (weight 60: every tick unless the far tier
would wait over an hour), stocks' nearest expiry (weight 4), everything else (weight 1).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import NamedTuple

from nsechain.errors import ConfigError
from nsechain.market.shard import Shard

__all__ = [
    "DEFAULT_POLICY",
    "Pair",
    "Plan",
    "PlanItem",
    "PlanSummary",
    "TierPlan",
    "TierRule",
    "TierSummary",
    "capacity_of",
    "default_policy",
    "make_plan",
    "render_plan",
    "tick_number",
]


class PlanItem(NamedTuple):
    """One underlying as the planner sees it: expiries sorted, nearest first."""

    symbol: str
    is_index: bool
    expiries: tuple[date, ...]


class Pair(NamedTuple):
    symbol: str
    expiry: date


@dataclass(frozen=True, slots=True)
class TierRule:
    """Pairs of ``indices`` (None: both) whose expiry rank is in [min_rank, max_rank]."""

    name: str
    weight: float
    indices: bool | None = None
    min_rank: int = 0
    max_rank: int | None = None

    def __post_init__(self) -> None:
        if not (self.weight > 0 and math.isfinite(self.weight)):
            raise ConfigError(f"plan tier {self.name}: weight must be a positive number")

    def matches(self, is_index: bool, rank: int) -> bool:
        if self.indices is not None and self.indices != is_index:
            return False
        return rank >= self.min_rank and (self.max_rank is None or rank <= self.max_rank)


def default_policy(
    *,
    index_near: int = 2,
    stock_near: int = 1,
    index_weight: float = 60.0,
    stock_weight: float = 4.0,
    far_weight: float = 1.0,
) -> tuple[TierRule, ...]:
    """The default tiers; ``index_near`` / ``stock_near`` count the nearest expiries in each."""
    return (
        TierRule("index-near", index_weight, indices=True, max_rank=index_near - 1),
        TierRule("stock-near", stock_weight, indices=False, max_rank=stock_near - 1),
        TierRule("far", far_weight),
    )


DEFAULT_POLICY = default_policy()


@dataclass(frozen=True, slots=True)
class TierPlan:
    """One tier's pairs (in fetch order) and its cadence in ticks."""

    name: str
    weight: float
    pairs: tuple[Pair, ...]
    cadence: int

    def at(self, k: int) -> tuple[Pair, ...]:
        return self.pairs[k % self.cadence :: self.cadence]

    @property
    def per_tick_max(self) -> int:
        return -(-len(self.pairs) // self.cadence)

    @property
    def per_tick_mean(self) -> float:
        return len(self.pairs) / self.cadence


@dataclass(frozen=True, slots=True)
class Plan:
    """Tiers in priority order, and the budget they were planned for."""

    tiers: tuple[TierPlan, ...]
    budget: float
    interval_s: float
    headroom: float
    capacity: int
    _period: dict[Pair, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        period = {p: t.cadence for t in self.tiers for p in t.pairs}
        object.__setattr__(self, "_period", period)

    def tick(self, k: int) -> list[Pair]:
        """The pairs to fetch on tick ``k``, highest priority first."""
        return [pair for tier in self.tiers for pair in tier.at(k)]

    def max_period(self, pair: Pair) -> int:
        """Ticks between two fetches of ``pair`` (KeyError if the plan does not hold it)."""
        return self._period[pair]

    def cadence(self, tier: str) -> int:
        return next(t.cadence for t in self.tiers if t.name == tier)

    @property
    def pairs(self) -> tuple[Pair, ...]:
        return tuple(self._period)

    @property
    def max_requests_per_tick(self) -> int:
        return sum(t.per_tick_max for t in self.tiers)

    @property
    def spare_per_tick(self) -> int:
        """Requests per tick the budget allows beyond the plan: retries, expiry refreshes."""
        return math.floor(self.budget * self.interval_s) - self.max_requests_per_tick

    @property
    def full_refresh_ticks(self) -> int:
        return max((t.cadence for t in self.tiers), default=0)

    def summary(
        self,
        *,
        shard: Shard | None = None,
        universe_symbols: int | None = None,
        configured_budget: float | None = None,
    ) -> PlanSummary:
        """Per-tier numbers for ``render_plan``; ``shard`` and the rest only annotate them."""
        rows = tuple(
            TierSummary(
                name=t.name,
                weight=t.weight,
                pairs=len(t.pairs),
                cadence=t.cadence,
                cadence_s=t.cadence * self.interval_s,
                per_tick_max=t.per_tick_max,
                per_minute=t.per_tick_mean * 60 / self.interval_s,
            )
            for t in self.tiers
        )
        return PlanSummary(
            tiers=rows,
            budget=self.budget,
            configured_budget=configured_budget,
            interval_s=self.interval_s,
            headroom=self.headroom,
            capacity=self.capacity,
            symbols=len({p.symbol for p in self._period}),
            universe_symbols=universe_symbols,
            shard=shard,
            full_refresh_s=self.full_refresh_ticks * self.interval_s,
            spare_per_tick=self.spare_per_tick,
        )


def capacity_of(budget: float, interval_s: float, headroom: float) -> int:
    """Requests one tick may plan: the budget over the interval, less the headroom."""
    if budget <= 0 or interval_s <= 0 or not 0 <= headroom < 1:
        raise ConfigError("plan: budget and interval must be > 0 and headroom in [0, 1)")
    # The epsilon keeps 3 * 60 * 0.8 = 143.99999999999997 from losing a request.
    return math.floor(budget * interval_s * (1 - headroom) + 1e-9)


def make_plan(
    items: Iterable[PlanItem],
    *,
    budget: float,
    interval_s: float,
    headroom: float = 0.2,
    policy: Sequence[TierRule] = DEFAULT_POLICY,
    shard: Shard | None = None,
) -> Plan:
    """Plan every expiry of every item (those ``shard`` owns) within ``budget`` req/s on
    ``interval_s`` ticks."""
    capacity = capacity_of(budget, interval_s, headroom)
    groups = _assign(items, policy, shard)
    if not groups:
        return Plan((), budget, interval_s, headroom, capacity)
    if len(groups) > capacity:
        raise ConfigError(
            f"plan: {capacity} requests per tick cannot serve {len(groups)} tiers; raise the "
            "rate or the interval, or lower the headroom"
        )
    sizes = [len(pairs) for _, pairs in groups]
    weights = [rule.weight for rule, _ in groups]
    cadences = _fill(sizes, _proportional(sizes, weights, capacity), capacity)
    tiers = tuple(
        TierPlan(rule.name, rule.weight, tuple(pairs), cadence)
        for (rule, pairs), cadence in zip(groups, cadences, strict=True)
    )
    return Plan(tiers, budget, interval_s, headroom, capacity)


def _assign(
    items: Iterable[PlanItem], policy: Sequence[TierRule], shard: Shard | None = None
) -> list[tuple[TierRule, list[Pair]]]:
    # Pairs nobody's rule matches go to a catch-all of the lowest weight: never unplanned.
    rest = TierRule("other", min((r.weight for r in policy), default=1.0))
    rules = [*policy, rest]
    buckets: list[list[Pair]] = [[] for _ in rules]
    seen: set[Pair] = set()  # a symbol listed twice must not be fetched twice
    for item in sorted(items, key=lambda i: (not i.is_index, i.symbol)):
        for rank, expiry in enumerate(sorted(set(item.expiries))):
            pair = Pair(item.symbol, expiry)
            if shard is not None and not shard.owns_pair(item.symbol, item.is_index, expiry):
                continue  # ranked all the same: the tier does not depend on the shard
            if pair not in seen:
                seen.add(pair)
                slot = next(n for n, r in enumerate(rules) if r.matches(item.is_index, rank))
                buckets[slot].append(pair)
    order = sorted(range(len(rules)), key=lambda n: -rules[n].weight)  # stable: policy order
    return [(rules[n], buckets[n]) for n in order if buckets[n]]


def _load(sizes: Sequence[int], cadences: Sequence[int]) -> int:
    return sum(-(-n // c) for n, c in zip(sizes, cadences, strict=True))


def _proportional(sizes: Sequence[int], weights: Sequence[float], capacity: int) -> list[int]:
    """Cadences ~ 1/weight: the smallest reference cadence whose load fits the capacity."""
    low = min(weights)

    def cadences(ref: int) -> list[int]:
        return [
            min(n, max(1, math.ceil(ref * low / w - 1e-9)))
            for n, w in zip(sizes, weights, strict=True)
        ]

    # At ``hi`` every tier is one request per tick, which fits (len(sizes) <= capacity).
    lo, hi = 1, max(math.ceil(n * w / low) for n, w in zip(sizes, weights, strict=True))
    while lo < hi:
        mid = (lo + hi) // 2
        if _load(sizes, cadences(mid)) <= capacity:
            hi = mid
        else:
            lo = mid + 1
    return cadences(lo)


def _fill(sizes: Sequence[int], cadences: list[int], capacity: int) -> list[int]:
    """Spend the capacity left over, highest priority first, keeping priorities ordered."""
    out = list(cadences)
    for t in range(len(out)):
        floor = out[t - 1] if t else 1
        while out[t] > floor:
            trial = [*out[:t], out[t] - 1, *out[t + 1 :]]
            if _load(sizes, trial) > capacity:
                break
            out[t] -= 1
    return out


def tick_number(now: datetime, interval_s: float) -> int:
    """Wall-clock tick number: the round-robin survives restarts and re-plans mid-day."""
    return int(now.timestamp() // interval_s)


# --- summary and rendering (``nsechain plan``) ---------------------------------------------


@dataclass(frozen=True, slots=True)
class TierSummary:
    name: str
    weight: float
    pairs: int
    cadence: int  # ticks between two fetches of one pair
    cadence_s: float
    per_tick_max: int
    per_minute: float  # mean requests per minute


@dataclass(frozen=True, slots=True)
class PlanSummary:
    tiers: tuple[TierSummary, ...]
    budget: float  # the effective budget the plan was made for (req/s)
    configured_budget: float | None  # the configured one, when AIMD lowered it
    interval_s: float
    headroom: float
    capacity: int
    symbols: int
    universe_symbols: int | None
    shard: Shard | None
    full_refresh_s: float
    spare_per_tick: int

    @property
    def pairs(self) -> int:
        return sum(t.pairs for t in self.tiers)

    @property
    def per_tick_max(self) -> int:
        return sum(t.per_tick_max for t in self.tiers)

    @property
    def per_minute(self) -> float:
        return sum(t.per_minute for t in self.tiers)


def render_plan(summary: PlanSummary) -> str:
    """The table ``nsechain plan`` prints."""
    s = summary
    lines = [
        f"Request plan: {s.budget:.2f} req/s x {_duration(s.interval_s)} ticks"
        f" = {s.budget * s.interval_s:g} requests/tick;"
        f" {s.headroom:.0%} headroom -> at most {s.capacity} planned",
    ]
    if s.configured_budget is not None and s.configured_budget != s.budget:
        lines.append(f"Budget lowered from {s.configured_budget:.2f} req/s after a rate block")
    lines += [
        f"{_universe_text(s)}, {s.pairs} (symbol, expiry) pairs",
        "",
        f"{'tier':<12}{'weight':>7}{'pairs':>7}  {'promised every':<22}{'req/tick':>9}"
        f"{'req/min':>9}",
    ]
    for t in s.tiers:
        every = f"{t.cadence} tick{'s' if t.cadence > 1 else ''} ({_duration(t.cadence_s)})"
        lines.append(
            f"{t.name:<12}{t.weight:>7g}{t.pairs:>7}  {every:<22}{t.per_tick_max:>9}"
            f"{t.per_minute:>9.1f}"
        )
    lines += [
        f"{'total':<12}{'':>7}{s.pairs:>7}  {'':<22}{s.per_tick_max:>9}{s.per_minute:>9.1f}",
        "",
        f"Full refresh of every pair: {_duration(s.full_refresh_s)}."
        f" Spare for retries and expiry refreshes: {s.spare_per_tick} requests/tick.",
        "Promised: the longest wait between two snapshots of a pair (`nsechain status`: achieved).",
    ]
    return "\n".join(lines)


def _universe_text(s: PlanSummary) -> str:
    if s.shard is None:
        return f"Universe: {s.symbols} underlyings"
    share = f" of {s.universe_symbols}" if s.universe_symbols is not None else ""
    return f"Shard {s.shard}: {s.symbols}{share} underlyings"


def _duration(seconds: float) -> str:
    if seconds < 60 or seconds % 60:
        return f"{seconds:g} s"
    hours, minutes = divmod(int(seconds // 60), 60)
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"
