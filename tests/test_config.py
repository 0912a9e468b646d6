"""Settings: sources and their precedence, and one-line errors for bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from nsechain.config import load_settings
from nsechain.errors import ConfigError
from nsechain.market import INDEX_SYMBOLS


def test_defaults_are_the_indices_and_nse() -> None:
    s = load_settings()
    assert s.symbols == list(INDEX_SYMBOLS)
    assert s.base_url == "https://www.nseindia.com"
    assert s.pending_dir == Path("data/options_parquet")
    assert s.db_path == Path("options_chain_data.duckdb")


def test_precedence_flag_over_env_over_toml(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "nsechain.toml").write_text('rate = 1.5\ninterval_s = 30\nsymbols = ["NIFTY"]\n')
    monkeypatch.setenv("NSECHAIN_RATE", "2.5")
    s = load_settings(interval_s=None)  # None = flag not given
    assert (s.rate, s.interval_s, s.symbols) == (2.5, 30.0, ["NIFTY"])
    assert load_settings(rate=0.5).rate == 0.5


def test_symbols_from_a_comma_list_are_upper_cased() -> None:
    assert load_settings(symbols="nifty, m&m").symbols == ["NIFTY", "M&M"]
    assert load_settings(symbols="all").all_symbols


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"rate": 0}, "rate"),
        ({"rate": -1}, "rate"),
        ({"interval_s": 0}, "interval_s"),
        ({"base_url": "nseindia.com"}, "base_url"),
        ({"symbols": ""}, "symbols"),
        ({"expiries_per_symbol": -1}, "expiries_per_symbol"),
        ({"shard": "3/3"}, "shard"),
        ({"session_overrides": "2026-13-01 closed"}, "session_overrides"),
        ({"plan_headroom": 1.0}, "plan_headroom"),
    ],
)
def test_bad_values_give_one_line_naming_the_setting(
    overrides: dict[str, object], needle: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(**overrides)
    message = str(info.value)
    assert needle in message
    assert "\n" not in message


def test_unknown_toml_key_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "nsechain.toml").write_text("rat = 3\n")
    with pytest.raises(ConfigError, match="rat"):
        load_settings()


def test_missing_config_file_named_by_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSECHAIN_CONFIG", "/nonexistent/nsechain.toml")
    with pytest.raises(ConfigError, match="NSECHAIN_CONFIG"):
        load_settings()
