"""The NSE F&O trading calendar: sessions, market state, next open/close, in IST.

Where it sits: the collector asks ``NseCalendar`` before every tick (``is_open`` / ``state``)
and sleeps until ``next_open`` outside sessions; ``nsechain calendar`` prints ``describe``.
Pure: holiday lists come in as ``HolidayList`` objects (``market.holidays`` parses, caches and
falls back offline); the only lazy work is loading the offline list of a year nobody passed in.

How a day's session is decided, strongest first:

1. a config override (``parse_override``: "2026-11-08 18:00-19:15 Muhurat" or
   "2026-03-02 closed reason");
2. special sessions bundled with nsechain (``bundled_special_sessions``: e.g. the Saturday
   budget day 01-Feb-2025 and the 2025 Muhurat session);
3. the holiday list: a ``*`` entry (Muhurat) is a special session, at NSE's times if the entry
   has them, else ``DEFAULT_SPECIAL`` (see below); any other entry closes the day;
4. Saturday and Sunday are closed; every other day runs 09:15–15:30 IST.

The close is inclusive: at exactly 15:30:00 the market counts as open, so the minute-aligned
15:30 tick records NSE's closing snapshot.

``DEFAULT_SPECIAL`` is 13:45–19:15 IST. NSE marks the Muhurat day in its list months ahead but
announces the hour by circular shortly before, and the hour moves: 18:15–19:15 in 2021–2023,
18:00–19:00 in 2024, 13:45–14:45 in 2025. The default window spans both recent conventions,
because missing the session loses its data for good, while polling outside it costs only
requests whose unchanged NSE timestamp the collector logs as ``stale`` (no rows written). Set the
announced times with an override to poll only the real hour.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal

from nsechain.errors import ConfigError
from nsechain.market.holidays import (
    Holiday,
    HolidayList,
    SessionTimes,
    bundled_special_sessions,
    offline_holidays,
    parse_holidays,
    parse_session_times,
)
from nsechain.timeutil import IST, iso

__all__ = [
    "DEFAULT_SPECIAL",
    "PRE_OPEN",
    "REGULAR",
    "HolidayList",
    "MarketState",
    "NseCalendar",
    "Override",
    "Phase",
    "Session",
    "SessionTimes",
    "parse_holidays",
    "parse_override",
]

REGULAR = SessionTimes(time(9, 15), time(15, 30))
DEFAULT_SPECIAL = SessionTimes(time(13, 45), time(19, 15))
#: The cash market's pre-open call auction (09:00–09:08, matching to 09:15). Options do not
#: trade in it; the collector uses the window to warm up (cookies, universe, expiries).
PRE_OPEN = timedelta(minutes=15)
#: No real calendar goes this long without a session; past it, the config closed everything.
_HORIZON_DAYS = 400

Phase = Literal["open", "pre_open", "closed"]
_OVERRIDE = re.compile(r"^\s*(\d{4}-\d{2}-\d{2})\s+(closed|[\d:.]+\s*-\s*[\d:.]+)\s*(.*)$", re.I)


@dataclass(frozen=True, slots=True)
class Override:
    """A configured day: ``times`` None means closed; otherwise its only session."""

    day: date
    times: SessionTimes | None
    label: str


@dataclass(frozen=True, slots=True)
class Session:
    """One trading session. ``label`` is empty for a regular session."""

    day: date
    open: datetime
    close: datetime
    label: str = ""

    @property
    def special(self) -> bool:
        return bool(self.label)

    def __str__(self) -> str:
        hours = f"{self.day:%a %d-%b-%Y} {self.open:%H:%M}–{self.close:%H:%M} IST"
        return f"{hours} ({self.label})" if self.label else hours


@dataclass(frozen=True, slots=True)
class MarketState:
    """What the market is doing at ``now``, why, and when that changes."""

    phase: Phase
    reason: str
    now: datetime
    session: Session | None  # in progress (open), about to start (pre_open), else None
    next_open: datetime
    next_close: datetime

    @property
    def is_open(self) -> bool:
        return self.phase == "open"

    def report(self) -> dict[str, str | None]:
        """This state as status JSON (ISO times)."""
        return {
            "phase": self.phase,
            "reason": self.reason,
            "next_open": iso(self.next_open),
            "next_close": iso(self.next_close),
        }


def parse_override(text: str) -> Override:
    """Read a config override: "YYYY-MM-DD HH:MM-HH:MM [label]" or "YYYY-MM-DD closed [why]"."""
    match = _OVERRIDE.match(text)
    if match is None:
        raise ConfigError(
            f"session override {text!r}: write 'YYYY-MM-DD HH:MM-HH:MM [label]' "
            "or 'YYYY-MM-DD closed [reason]'"
        )
    day_text, what, label = match.groups()
    try:
        day = date.fromisoformat(day_text)
    except ValueError:
        raise ConfigError(f"session override {text!r}: {day_text} is not a date") from None
    if what.lower() == "closed":
        return Override(day, None, label.strip() or "closed by configuration")
    times = parse_session_times(what)
    if times is None:
        raise ConfigError(f"session override {text!r}: {what!r} is not HH:MM-HH:MM, open < close")
    return Override(day, times, label.strip() or "special session (configured)")


class NseCalendar:
    """NSE F&O sessions from holiday lists, special sessions and config overrides (all IST)."""

    def __init__(
        self,
        lists: Iterable[HolidayList] = (),
        *,
        overrides: Iterable[Override] = (),
        special_default: SessionTimes = DEFAULT_SPECIAL,
        regular: SessionTimes = REGULAR,
        pre_open: timedelta = PRE_OPEN,
        offline: Callable[[int], HolidayList] = offline_holidays,
        known_specials: Mapping[date, tuple[SessionTimes, str]] | None = None,
    ) -> None:
        self._years: dict[int, HolidayList] = {}
        for holiday_list in lists:
            for year in holiday_list.years:
                self._years[year] = holiday_list.for_year(year)
        self._overrides = {o.day: o for o in overrides}
        self._known = bundled_special_sessions() if known_specials is None else known_specials
        self._special_default = special_default
        self._regular = regular
        self._pre_open = pre_open
        self._offline = offline

    # --- days ------------------------------------------------------------------------------
    def holidays(self, year: int) -> HolidayList:
        """The list in use for ``year``; loads the offline fallback the first time it is needed."""
        if year not in self._years:
            self._years[year] = self._offline(year)
        return self._years[year]

    def holiday(self, day: date) -> Holiday | None:
        return self.holidays(day.year).get(day)

    def session(self, day: date) -> Session | None:
        """The session on ``day``, or None when the market is closed all day."""
        times, label = self._hours(day)
        if times is None:
            return None
        return Session(
            day,
            datetime.combine(day, times.open, tzinfo=IST),
            datetime.combine(day, times.close, tzinfo=IST),
            label,
        )

    def is_trading_day(self, day: date) -> bool:
        return self.session(day) is not None

    def _hours(self, day: date) -> tuple[SessionTimes | None, str]:
        if (override := self._overrides.get(day)) is not None:
            return override.times, override.label
        if day in self._known:
            times, label = self._known[day]
            return times, f"special session: {label}"
        holiday = self.holiday(day)
        if holiday is not None and holiday.special:
            if holiday.times is not None:
                return holiday.times, f"special session: {holiday.name}"
            note = f"times not announced: default window {self._special_default}"
            return self._special_default, f"special session: {holiday.name}; {note}"
        if holiday is not None or day.weekday() >= 5:
            return None, ""
        return self._regular, ""

    def closed_reason(self, day: date) -> str:
        """Why ``day`` has no session ("holiday: Holi", "weekend"); empty if it has one."""
        if self.session(day) is not None:
            return ""
        if (override := self._overrides.get(day)) is not None:
            return f"closed: {override.label}"
        if (holiday := self.holiday(day)) is not None:
            return f"holiday: {holiday.name}"
        return "weekend"

    def sessions(self, start: date) -> Iterator[Session]:
        """Sessions on ``start`` and after, in order."""
        for offset in range(_HORIZON_DAYS):
            found = self.session(start + timedelta(days=offset))
            if found is not None:
                yield found
        raise ConfigError(f"no NSE session within {_HORIZON_DAYS} days of {start}: check overrides")

    # --- instants --------------------------------------------------------------------------
    def state(self, now: datetime) -> MarketState:
        local = _ist(now)
        today = self.session(local.date())
        phase: Phase = "closed"
        current: Session | None = None
        if today is not None and today.open <= local <= today.close:
            phase, current, reason = "open", today, today.label or "regular session"
        elif today is not None and today.open - self._pre_open <= local < today.open:
            phase, current, reason = "pre_open", today, f"opens {today.open:%H:%M} IST"
        elif today is not None:
            reason = "after close" if local > today.close else "before open"
        else:
            reason = self.closed_reason(local.date())
        return MarketState(
            phase=phase,
            reason=reason,
            now=local,
            session=current,
            next_open=self.next_open(local),
            next_close=self.next_close(local),
        )

    def is_open(self, now: datetime) -> bool:
        local = _ist(now)
        today = self.session(local.date())
        return today is not None and today.open <= local <= today.close

    def next_session(self, now: datetime) -> Session:
        """The first session that opens strictly after ``now``."""
        local = _ist(now)
        return next(s for s in self.sessions(local.date()) if s.open > local)

    def next_open(self, now: datetime) -> datetime:
        """When the next session opens (strictly after ``now``; tomorrow's if open now)."""
        return self.next_session(now).open

    def next_close(self, now: datetime) -> datetime:
        """The close of the session in progress, else of the next session."""
        local = _ist(now)
        return next(s.close for s in self.sessions(local.date()) if s.close >= local)

    # --- rendering -------------------------------------------------------------------------
    def describe(self, now: datetime) -> str:
        """Today's state and the next session, for ``nsechain calendar``."""
        state = self.state(now)
        local = state.now
        nxt = self.next_session(local)
        lines = [
            f"NSE F&O — {local:%A %d-%b-%Y %H:%M} IST",
            f"  now:       {state.phase.replace('_', '-')} ({state.reason})",
        ]
        if state.phase == "open":
            lines.append(
                f"  closes:    {state.next_close:%H:%M} IST (in {_span(state.next_close - local)})"
            )
        lines.append(f"  next open: {nxt} — in {_span(nxt.open - local)}")
        if upcoming := self._upcoming(local.date(), days=30):
            lines.append("  next 30 days:")
            lines.extend(f"    {line}" for line in upcoming)
        lines.extend(self._sources(local.year, nxt.day.year))
        return "\n".join(lines)

    def _sources(self, first: int, last: int) -> list[str]:
        out = []
        for year in range(first, max(first, last) + 1):
            source = self.holidays(year).source
            warn = " (no list: only weekends count as closed)" if source == "weekends-only" else ""
            out.append(f"  holiday list {year}: {source}{warn}")
        return out

    def _upcoming(self, start: date, *, days: int) -> list[str]:
        # Weekday closures and special sessions: the days a weekly routine would get wrong.
        out = []
        for offset in range(1, days + 1):
            day = start + timedelta(days=offset)
            session = self.session(day)
            if session is not None and session.special:
                out.append(str(session))
            elif session is None and day.weekday() < 5:
                out.append(f"{day:%a %d-%b-%Y} closed ({self.closed_reason(day)})")
        return out


def _ist(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError(f"naive datetime {now.isoformat()}: pass an aware datetime")
    return now.astimezone(IST)


def _span(delta: timedelta) -> str:
    minutes = max(0, int(delta.total_seconds() // 60))
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = [f"{days} d"] if days else []
    if hours or days:
        parts.append(f"{hours} h")
    parts.append(f"{mins} min")
    return " ".join(parts)
