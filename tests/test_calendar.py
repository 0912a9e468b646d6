"""The NSE calendar against NSE's real 2025 and 2026 FO holiday lists (shared fixtures)."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from conftest import fixture_bytes
from nsechain import OptionsThreadedManager
from nsechain.collector.clock import FixedClock
from nsechain.collector.session import TradingCalendar
from nsechain.config import load_settings
from nsechain.errors import BadPayload, ConfigError, NetworkError
from nsechain.market import holidays as hol
from nsechain.market.calendar import (
    DEFAULT_SPECIAL,
    NseCalendar,
    SessionTimes,
    parse_override,
)
from nsechain.market.holidays import (
    HolidayList,
    bundled_holidays,
    holidays_from_json,
    holidays_to_json,
    load_cached,
    offline_holidays,
    parse_holidays,
    parse_session_times,
    resolve_year,
    save_cache,
    xbom_holidays,
)
from nsechain.timeutil import IST


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=IST)


@pytest.fixture
def nse_lists() -> list[HolidayList]:
    return [
        parse_holidays(fixture_bytes("holiday_master_trading_2025.json")),
        parse_holidays(fixture_bytes("holiday_master_trading_2026.json")),
    ]


@pytest.fixture
def cal(nse_lists: list[HolidayList]) -> NseCalendar:
    # No bundled special sessions: these tests are about what NSE's list alone says.
    return NseCalendar(nse_lists, known_specials={})


# --- parsing NSE's list ---------------------------------------------------------------------


def test_parse_reads_the_fo_segment(nse_lists: list[HolidayList]) -> None:
    l25, l26 = nse_lists
    assert (len(l25.holidays), len(l26.holidays)) == (18, 20)
    assert l25.years == frozenset({2025}) and l26.source == "nse"
    election = l26.get(date(2026, 1, 15))
    assert election is not None
    assert election.name == "Municipal Corporation Election - Maharashtra"
    muhurat = l26.get(date(2026, 11, 8))
    assert muhurat is not None and muhurat.special and muhurat.times is None
    assert muhurat.name == "Diwali Laxmi Pujan"
    assert [h for h in l26.holidays if h.special] == [muhurat]


@pytest.mark.parametrize(
    "body", [b"", b"{}", b"<html>Access Denied</html>", b'{"FO": []}', b'{"FO": [{"x": 1}]}']
)
def test_parse_rejects_what_is_not_a_holiday_list(body: bytes) -> None:
    with pytest.raises(BadPayload):
        parse_holidays(body)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("18:00-19:15", SessionTimes(time(18), time(19, 15))),
        ("6:15 PM to 7:15 PM", SessionTimes(time(18, 15), time(19, 15))),
        ("13.45 - 14.45", SessionTimes(time(13, 45), time(14, 45))),
        ("Open", None),
        ("Closed", None),
        (None, None),
        ("19:15-18:00", None),
    ],
)
def test_session_fields_are_read_only_when_they_hold_times(
    text: str | None, expected: SessionTimes | None
) -> None:
    assert parse_session_times(text) == expected


def test_an_entry_with_session_times_is_a_special_session_at_those_times() -> None:
    body = (
        b'{"FO": [{"tradingDate": "12-Nov-2023", "weekDay": "Sunday", "description": "Diwali*",'
        b' "morning_session": null, "evening_session": "18:15-19:15", "Sr_no": 1}]}'
    )
    cal = NseCalendar([parse_holidays(body)], known_specials={})
    session = cal.session(date(2023, 11, 12))
    assert session is not None
    assert (session.open, session.close) == (at("2023-11-12 18:15"), at("2023-11-12 19:15"))


# --- days -----------------------------------------------------------------------------------


def test_weekends_are_closed(cal: NseCalendar) -> None:
    assert not cal.is_trading_day(date(2026, 8, 8))  # Saturday
    assert not cal.is_trading_day(date(2026, 8, 9))  # Sunday
    assert cal.is_trading_day(date(2026, 8, 10))
    assert cal.state(at("2026-08-08 11:00")).reason == "weekend"


def test_regular_session_runs_0915_to_1530_ist(cal: NseCalendar) -> None:
    session = cal.session(date(2026, 8, 11))
    assert session is not None and not session.special
    assert (session.open, session.close) == (at("2026-08-11 09:15"), at("2026-08-11 15:30"))


def test_the_one_off_election_closure_is_closed(cal: NseCalendar) -> None:
    state = cal.state(at("2026-01-15 11:00"))
    assert state.phase == "closed"
    assert state.reason == "holiday: Municipal Corporation Election - Maharashtra"
    assert state.next_open == at("2026-01-16 09:15")


def test_holidays_of_both_years(cal: NseCalendar) -> None:
    assert not cal.is_trading_day(date(2025, 10, 21))  # Diwali Laxmi Pujan (no * in 2025 list)
    assert not cal.is_trading_day(date(2025, 12, 25))
    assert not cal.is_trading_day(date(2026, 3, 3))  # Holi
    assert cal.state(at("2026-03-03 10:00")).reason == "holiday: Holi"
    assert cal.is_trading_day(date(2026, 3, 4))


def test_muhurat_sunday_is_a_special_session_in_the_default_window(cal: NseCalendar) -> None:
    session = cal.session(date(2026, 11, 8))
    assert session is not None and session.special
    assert (session.open.time(), session.close.time()) == (
        DEFAULT_SPECIAL.open,
        DEFAULT_SPECIAL.close,
    )
    assert "Diwali Laxmi Pujan" in session.label and "not announced" in session.label
    assert cal.state(at("2026-11-08 12:00")).phase == "closed"
    open_state = cal.state(at("2026-11-08 14:00"))
    assert open_state.is_open and open_state.next_close == at("2026-11-08 19:15")
    assert cal.state(at("2026-11-08 19:30")).reason == "after close"
    # The other Diwali day stays a plain holiday.
    assert cal.state(at("2026-11-10 10:00")).reason == "holiday: Diwali-Balipratipada"


def test_config_override_sets_the_announced_muhurat_hour(nse_lists: list[HolidayList]) -> None:
    override = parse_override("2026-11-08 18:00-19:15 Muhurat trading")
    cal = NseCalendar(nse_lists, overrides=[override], known_specials={})
    assert not cal.is_open(at("2026-11-08 14:00"))
    assert cal.is_open(at("2026-11-08 18:30"))
    assert cal.next_open(at("2026-11-07 12:00")) == at("2026-11-08 18:00")


def test_config_can_close_a_day_and_open_a_saturday(nse_lists: list[HolidayList]) -> None:
    overrides = [
        parse_override("2026-08-12 closed exchange outage"),
        parse_override("2026-08-15 09:15-15:30 special Saturday session"),
    ]
    cal = NseCalendar(nse_lists, overrides=overrides, known_specials={})
    assert cal.state(at("2026-08-12 10:00")).reason == "closed: exchange outage"
    # 15-Aug-2026 is a Saturday and a holiday in NSE's list; the override wins.
    assert cal.is_open(at("2026-08-15 10:00"))


@pytest.mark.parametrize(
    "text", ["2026-11-08", "08-11-2026 18:00-19:00", "2026-11-08 19:00-18:00", "2026-02-30 closed"]
)
def test_bad_overrides_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_override(text)


def test_bundled_special_sessions_apply_by_default(nse_lists: list[HolidayList]) -> None:
    cal = NseCalendar(nse_lists)
    # Saturday budget day 2025, and the 2025 Muhurat hour that NSE's April list lacks.
    assert cal.is_open(at("2025-02-01 10:00"))
    assert cal.is_open(at("2025-10-21 14:00"))
    assert not cal.is_open(at("2025-10-21 10:00"))


# --- instants -------------------------------------------------------------------------------


def test_close_is_inclusive_so_the_1530_tick_runs(cal: NseCalendar) -> None:
    assert cal.is_open(at("2026-08-11 15:30"))
    assert not cal.is_open(at("2026-08-11 15:30:01"))
    assert cal.is_open(at("2026-08-11 09:15"))
    assert not cal.is_open(at("2026-08-11 09:14:59"))


def test_pre_open_is_the_quarter_hour_before_the_open(cal: NseCalendar) -> None:
    assert cal.state(at("2026-08-11 08:59")).reason == "before open"
    state = cal.state(at("2026-08-11 09:00"))
    assert state.phase == "pre_open" and state.next_open == at("2026-08-11 09:15")


def test_next_open_across_a_long_weekend(cal: NseCalendar) -> None:
    # Thu 02-Apr-2026 close → Good Friday 03-Apr, weekend → Monday 06-Apr.
    after_close = at("2026-04-02 15:45")
    assert cal.next_open(after_close) == at("2026-04-06 09:15")
    assert cal.next_close(after_close) == at("2026-04-06 15:30")
    # Diwali 2025: Mon 20-Oct trades, Tue 21 and Wed 22 are holidays.
    assert cal.next_open(at("2025-10-20 16:00")) == at("2025-10-23 09:15")


def test_next_open_while_open_is_the_next_day(cal: NseCalendar) -> None:
    now = at("2026-08-11 10:00")
    assert cal.next_open(now) == at("2026-08-12 09:15")
    assert cal.next_close(now) == at("2026-08-11 15:30")
    assert cal.next_open(at("2026-08-11 07:00")) == at("2026-08-11 09:15")


def test_instants_in_other_zones_are_read_in_ist(cal: NseCalendar) -> None:
    assert cal.is_open(datetime.fromisoformat("2026-08-11T04:00:00+00:00"))  # 09:30 IST
    assert not cal.is_open(datetime.fromisoformat("2026-08-11T10:30:00+00:00"))  # 16:00 IST
    with pytest.raises(ValueError, match="naive"):
        cal.state(datetime(2026, 8, 11, 10, 0))


def test_describe_says_state_next_session_and_upcoming_closures(cal: NseCalendar) -> None:
    text = cal.describe(at("2026-11-06 16:00"))
    assert "closed (after close)" in text
    assert "next open: Sun 08-Nov-2026 13:45–19:15 IST" in text
    assert "Tue 10-Nov-2026 closed (holiday: Diwali-Balipratipada)" in text
    assert "holiday list 2026: nse" in text


def test_describe_warns_when_next_year_has_no_list(nse_lists: list[HolidayList]) -> None:
    cal = NseCalendar(nse_lists, offline=lambda y: HolidayList((), frozenset({y}), "weekends-only"))
    text = cal.describe(at("2026-12-31 16:00"))
    assert "next open: Fri 01-Jan-2027" in text
    assert "holiday list 2027: weekends-only (no list" in text


# --- offline fallbacks and the cache --------------------------------------------------------


def test_bundled_list_matches_nse_fixture(nse_lists: list[HolidayList]) -> None:
    for nse in nse_lists:
        (year,) = nse.years
        bundled = bundled_holidays(year)
        assert bundled is not None and bundled.source == "bundled"
        assert bundled.holidays == nse.holidays
    assert bundled_holidays(2031) is None


def test_year_without_list_falls_back_to_xbom() -> None:
    pytest.importorskip("exchange_calendars")
    cal = NseCalendar(known_specials={})  # nothing passed in: 2024 is not bundled either
    assert cal.holidays(2024).source == "xbom"
    assert not cal.is_trading_day(date(2024, 5, 20))  # Mumbai election day, weekday
    assert not cal.is_trading_day(date(2024, 11, 1))  # Diwali
    assert cal.is_trading_day(date(2024, 11, 4))
    assert cal.state(at("2024-11-01 10:00")).reason == "holiday: XBOM calendar holiday"


def test_xbom_agrees_with_nse_on_2025_weekday_closures(nse_lists: list[HolidayList]) -> None:
    pytest.importorskip("exchange_calendars")
    xbom = xbom_holidays(2025)
    assert xbom is not None
    nse_weekdays = {h.day for h in nse_lists[0].holidays if h.day.weekday() < 5}
    assert {h.day for h in xbom.holidays} == nse_weekdays


def test_xbom_weekend_sessions_become_special_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    sessions = {date(2030, 1, 1) + timedelta(days=i) for i in range(365)}
    sessions = {d for d in sessions if d.weekday() < 5} - {date(2030, 1, 1)} | {date(2030, 2, 2)}
    monkeypatch.setattr(hol, "_xbom_sessions", lambda year: frozenset(sessions))
    xbom = xbom_holidays(2030)
    assert xbom is not None
    assert [(h.day, h.special) for h in xbom.holidays] == [
        (date(2030, 1, 1), False),
        (date(2030, 2, 2), True),
    ]
    assert NseCalendar([xbom], known_specials={}).is_open(at("2030-02-02 10:00"))


def test_no_list_at_all_leaves_weekends_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hol, "_xbom_sessions", lambda year: None)
    fallback = offline_holidays(2040)
    assert fallback.source == "weekends-only" and fallback.holidays == ()


def test_cache_round_trip_per_year(tmp_path: Path, nse_lists: list[HolidayList]) -> None:
    assert load_cached(tmp_path, 2026) is None
    paths = save_cache(tmp_path, nse_lists[1], fetched_at=at("2026-07-24 08:00"))
    assert [p.name for p in paths] == ["holidays_FO_2026.json"]
    cached = load_cached(tmp_path, 2026)
    assert cached is not None and cached.source == "cache"
    assert cached.holidays == nse_lists[1].holidays
    assert load_cached(tmp_path, 2025) is None
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_damaged_cache_is_ignored(tmp_path: Path) -> None:
    (tmp_path / "holidays_FO_2026.json").write_bytes(b'{"format": 1, "holi')
    assert load_cached(tmp_path, 2026) is None
    with pytest.raises(BadPayload):
        holidays_from_json(b"[]")


def test_json_round_trip_keeps_special_times() -> None:
    special = hol.Holiday(date(2027, 10, 29), "Diwali*", True, SessionTimes(time(18), time(19)))
    original = HolidayList((special,), frozenset({2027}), "nse")
    again = holidays_from_json(holidays_to_json(original))
    assert again == original


def test_resolve_year_fetches_then_falls_back_to_cache_then_offline(tmp_path: Path) -> None:
    answers = [fixture_bytes("holiday_master_trading_2026.json"), b"<html>Access Denied</html>"]

    def fetch() -> bytes:
        return answers.pop(0)

    fetched = resolve_year(2026, tmp_path, fetch)
    assert fetched.source == "nse" and len(fetched.holidays) == 20
    assert resolve_year(2026, tmp_path, fetch).source == "cache"  # NSE failed: last good list
    assert resolve_year(2026, tmp_path / "empty", None).source == "bundled"
    assert not answers


def test_resolve_year_uses_offline_for_a_year_nse_does_not_serve(tmp_path: Path) -> None:
    def fetch() -> bytes:
        return fixture_bytes("holiday_master_trading_2025.json")

    assert resolve_year(2026, tmp_path, fetch).source == "bundled"
    assert load_cached(tmp_path, 2025) is not None  # what NSE did send is still cached


@pytest.mark.parametrize("xbom_knows", [True, False])
def test_past_its_data_the_collector_calendar_falls_back_and_says_so_once(
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    xbom_knows: bool,
) -> None:
    # The year after the last bundled list, NSE unreachable, nothing cached: exchange-
    # calendars if it covers the year (pretended either way: its data ends in 2026 today).
    year = max(hol._bundled_list().years) + 1
    xbom = HolidayList((), frozenset({year}), "xbom") if xbom_knows else None
    monkeypatch.setattr(hol, "xbom_holidays", lambda y: xbom if y == year else None)

    def unreachable() -> bytes:
        raise NetworkError("connection refused (test)")

    settings = load_settings(data_dir=tmp_path / "data", base_url="http://127.0.0.1:9")
    clock = FixedClock(datetime(year, 3, 10, 11, 0, tzinfo=IST))  # never today
    cal = TradingCalendar(settings, unreachable)
    with caplog.at_level(logging.WARNING, logger="nsechain.collector.session"):
        for days in range(3):  # a rebuild every day, and next_open looks ahead
            now = clock.advance(timedelta(days=days))
            cal.is_open(now)
            cal.next_open(now)
    said = [r.getMessage() for r in caplog.records if "calendar fallback" in r.getMessage()]
    source = "xbom" if xbom_knows else "weekends-only"
    assert len(said) == 1 and f"year={year} source={source}" in said[0]
    assert list(cal.fallbacks) == [year]
    assert ("exchange-calendars" if xbom_knows else "only weekends") in cal.fallbacks[year]

    m = OptionsThreadedManager(settings, clock=clock, market=cal)
    try:
        market = m.get_thread_status()["market"]
    finally:
        m.stop_all_threads()
    assert market["calendar"] == cal.fallbacks[year]
    assert str(year) in market["calendar"] and "NSE did not answer" in market["calendar"]
