"""Sharding: split the (symbol, expiry) pairs between collectors, stably.

Where it sits: ``nsechain collect --shard i/N`` keeps the pairs shard ``i`` of ``N`` owns
(``Universe.shard`` keeps the underlyings it needs, ``make_plan(shard=…)`` the pairs); several
machines on different IPs thus split one universe, each with its own request budget. Pure.

The unit is the pair, so that NIFTY's 18 expiries do not all land in one shard:

- a stock's pairs all go to ``shard_of(symbol, N)``: one shard asks its contract-info;
- an index's pairs are split: ``(shard_of(symbol, N) + period(expiry)) % N``, where the period
  is the expiry's week (Sunday to Saturday) for a weekly underlying and its month for the
  others. Consecutive expiries, the near tier fetched every tick, thus land in different
  shards (for N >= 2; unless a holiday moves a Tuesday expiry back past Sunday). Every shard
  asks contract-info of the 5 indices (it cannot know which expiries it owns without the
  list): 5 calls per shard per refresh (daily, and when an expiry passes or answers empty),
  beside ~660 chain calls per full sweep; a stock's list is asked by its one shard only.

Owner depends on the pair alone (and two constants), never on an expiry list or its ranks: two
shards that disagree for a moment about a symbol's expiries still never both fetch one pair.
The hash is BLAKE2b of the UTF-8 symbol, not Python's ``hash()``, which is salted per process:
every collector, on every machine and every day, must agree on who owns a pair.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from hashlib import blake2b
from typing import Protocol, TypeVar

from nsechain.errors import ConfigError
from nsechain.market import WEEKLY_SYMBOLS

__all__ = ["Shard", "pair_owner", "parse_shard", "select_shard", "shard_of"]

_SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")


class _HasSymbol(Protocol):
    @property
    def symbol(self) -> str: ...


S = TypeVar("S", bound=_HasSymbol)


@dataclass(frozen=True, slots=True)
class Shard:
    """Shard ``index`` (0-based) of ``count``."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index}/{self.count}: need 0 <= index < count")

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def owns(self, symbol: str) -> bool:
        """Whether this shard owns the whole underlying (a stock's every pair)."""
        return shard_of(symbol, self.count) == self.index

    def needs(self, symbol: str, is_index: bool) -> bool:
        """Whether this shard fetches anything of ``symbol``: its expiries, at least."""
        return is_index or self.owns(symbol)

    def owns_pair(self, symbol: str, is_index: bool, expiry: date) -> bool:
        return pair_owner(symbol, is_index, expiry, self.count) == self.index


def shard_of(symbol: str, count: int) -> int:
    """The shard (0..count-1) that owns ``symbol``; the same everywhere, always."""
    if count < 1:
        raise ValueError("shard count must be >= 1")
    digest = blake2b(symbol.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def pair_owner(symbol: str, is_index: bool, expiry: date, count: int) -> int:
    """The shard (0..count-1) that owns the pair: by symbol for a stock, split for an index."""
    base = shard_of(symbol, count)
    if not is_index:
        return base
    if symbol in WEEKLY_SYMBOLS:  # weeks counted from 0001-01-01; Monday and Tuesday share one
        period = expiry.toordinal() // 7
    else:
        period = expiry.year * 12 + expiry.month
    return (base + period) % count


def select_shard(items: Iterable[S], index: int, count: int) -> list[S]:
    """The items whose symbol shard ``index`` of ``count`` owns, in their order."""
    if not 0 <= index < count:
        raise ValueError(f"shard {index}/{count}: index must be in 0..{count - 1}")
    return [item for item in items if shard_of(item.symbol, count) == index]


def parse_shard(text: str) -> Shard:
    """Read ``--shard i/N`` (``i`` counts from 0: ``0/3``, ``1/3``, ``2/3``)."""
    match = _SHARD.match(text)
    if match is None:
        raise ConfigError(f"--shard {text!r}: write i/N, e.g. 0/3 (i counts from 0)")
    index, count = int(match[1]), int(match[2])
    if count < 1 or index >= count:
        raise ConfigError(f"--shard {text}: need N >= 1 and 0 <= i < N (i counts from 0)")
    return Shard(index, count)
