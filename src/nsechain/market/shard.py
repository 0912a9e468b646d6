"""Sharding: split the universe between collectors by a stable hash of the symbol.

Where it sits: ``nsechain collect --shard i/N`` keeps the underlyings with ``shard_of(symbol, N)
== i`` (``Universe.shard``); several machines on different IPs thus split one universe, each
with its own request budget. Pure.

The hash is BLAKE2b of the UTF-8 symbol, not Python's ``hash()``, which is salted per process:
every collector, on every machine and every day, must agree on who owns a symbol.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from hashlib import blake2b
from typing import Protocol, TypeVar

from nsechain.errors import ConfigError

__all__ = ["Shard", "parse_shard", "select_shard", "shard_of"]

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
        return shard_of(symbol, self.count) == self.index


def shard_of(symbol: str, count: int) -> int:
    """The shard (0..count-1) that owns ``symbol``; the same everywhere, always."""
    if count < 1:
        raise ValueError("shard count must be >= 1")
    digest = blake2b(symbol.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


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
