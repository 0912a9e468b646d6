"""The one Settings object.

Where it sits: built once at the edge (the CLI, or a user calling ``Settings()``), then passed
down to every component. Nothing else reads the environment or a config file. Its floor sits
above ``errors`` and the pure ``market`` package (whose parsers validate the shard, calendar
override and session settings) and below ``nse``.

Sources, strongest first: explicit keyword arguments (CLI flags) > environment variables
``NSECHAIN_*`` > the TOML file (``nsechain.toml`` in the working directory, or the path in
``NSECHAIN_CONFIG``) > defaults.
"""

from __future__ import annotations

import os
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nsechain.errors import ConfigError
from nsechain.market import INDEX_SYMBOLS
from nsechain.timeutil import IST

__all__ = ["Settings", "load_settings"]

DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)


#: The default names of the data folder and of the database beside it (see ``Settings._siblings``).
DATA_NAME = "data"
DB_NAME = "options_chain_data.duckdb"


class Settings(BaseSettings):
    """Every knob of nsechain. Field descriptions double as ``--help`` text and README rows."""

    model_config = SettingsConfigDict(
        env_prefix="NSECHAIN_",
        extra="forbid",
        validate_default=True,
        toml_file="nsechain.toml",
    )

    # --- where things go -------------------------------------------------------------------
    data_dir: Path = Field(
        Path(DATA_NAME),
        description="Root of Parquet, quarantine and status (the database defaults to "
        "its sibling).",
    )
    db_path: Path = Field(
        Path(DB_NAME),
        description="DuckDB database file the batch loads (defaults to the data dir's sibling).",
    )
    spill_dir: Path | None = Field(
        None,
        description="Where interval files go while the data dir refuses writes (another disk; "
        "one collector's own: its start-up moves what it finds there back to pending); "
        "unset: held in memory, then dropped with a log line.",
    )

    # --- what to collect ---------------------------------------------------------------------
    symbols: list[str] = Field(
        default_factory=lambda: list(INDEX_SYMBOLS),
        description="Underlyings to record, or ['ALL'] for the whole F&O universe.",
    )
    exclude_symbols: list[str] = Field(
        default_factory=list, description="Underlyings to leave out (with ALL)."
    )
    universe_kind: Literal["all", "indices", "stocks"] = Field(
        "all", description="Restrict the universe to indices or stocks."
    )
    expiries_per_symbol: int = Field(
        0, ge=0, le=40, description="Nearest N expiries per symbol; 0 = every listed expiry."
    )
    shard: str | None = Field(
        None, description="'i/N': record only this collector's share of the universe (0-based)."
    )

    # --- the request plan (see `nsechain plan`) ----------------------------------------------
    plan_headroom: float = Field(
        0.2, ge=0, lt=1, description="Share of the budget kept free for retries and refreshes."
    )
    plan_index_near: int = Field(2, ge=1, description="Index expiries in the top tier.")
    plan_weight_index: float = Field(60.0, gt=0, description="Relative cadence, near indices.")
    plan_weight_stock: float = Field(4.0, gt=0, description="Relative cadence, near stocks.")
    plan_weight_far: float = Field(1.0, gt=0, description="Relative cadence, far expiries.")

    # --- when ------------------------------------------------------------------------------
    interval_s: float = Field(60.0, gt=0, description="Seconds between ticks (wall-clock aligned).")
    batch_interval_s: float = Field(300.0, gt=0, description="Seconds between DuckDB loads.")
    ignore_market_hours: bool = Field(False, description="Collect outside NSE market hours too.")
    status_interval_s: float = Field(2.0, gt=0, description="Seconds between status.json writes.")
    after_close_snapshot: bool = Field(
        True, description="Take one more snapshot just after the close (closing OI)."
    )
    sort_closed_days: bool = Field(
        True,
        description="While the market is closed, rewrite each closed day's quotes sorted by "
        "symbol, in place, one day between loads (`nsechain compact` does the whole file).",
    )
    session_overrides: list[str] = Field(
        default_factory=list,
        description="Extra or changed sessions: '2026-11-08 18:00-19:15 Muhurat', "
        "'2026-03-02 closed outage'.",
    )
    special_session_default: str = Field(
        "13:45-19:15", description="Hours of a special (*) session NSE has not timed yet."
    )

    clock_start: datetime | None = Field(
        None,
        description="Run on a market clock from this instant (ISO; naive = IST) instead of the "
        "wall clock: for a simulator on another day. Intervals are then clock seconds.",
    )
    clock_speed: float = Field(
        1.0, ge=0, description="Clock seconds per wall second of that clock (0 stands still)."
    )
    clock_anchor: datetime | None = Field(
        None,
        description="Wall time (ISO) at which that clock read clock_start; default: when the "
        "process starts. Lets a harness start collectors on a simulator's running clock.",
    )

    # --- how to talk to NSE ------------------------------------------------------------------
    base_url: str = Field("https://www.nseindia.com", description="NSE (or simulator) base URL.")
    rate: float = Field(3.0, gt=0, description="Request budget, requests per second, all calls.")
    burst: int = Field(
        1, ge=1, description="Token-bucket burst size (1: requests in flight bunch anyway)."
    )
    in_flight: int = Field(
        0,
        ge=0,
        le=64,
        description="Requests in flight at once (0: enough to fill the budget at 1.5 s latency).",
    )
    timeout_s: float = Field(10.0, gt=0, description="Timeout of each network read, seconds.")
    deadline_s: float = Field(
        30.0, gt=0, description="Whole-request deadline in seconds (a slow drip ends here)."
    )
    max_body_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Cap on a decompressed response body, bytes."
    )
    check_exchange_ts: bool = Field(
        True,
        description="Refuse snapshots whose NSE timestamp is older than the previous session's "
        "close or ahead of the collector's clock (clock_start puts it on a simulator's day).",
    )
    max_wire_bytes: int = Field(
        32 * 1024 * 1024, ge=1024, description="Cap on a response body as sent (compressed)."
    )
    max_retries: int = Field(3, ge=0, le=10, description="Retries of a transient failure.")
    backoff_base_s: float = Field(0.5, ge=0, description="First retry delay; doubles, jittered.")
    backoff_max_s: float = Field(30.0, gt=0, description="Longest single retry delay.")
    cookie_max_age_s: float = Field(
        1800.0, gt=0, description="Re-bootstrap cookies after this many seconds."
    )
    block_cooloff_s: float = Field(
        600.0, ge=0, description="Pause after a 403 rate block (NSE blocks for ~10 minutes)."
    )
    user_agent: str = Field(
        DEFAULT_USER_AGENT, description="Browser User-Agent NSE expects (httpx transport)."
    )
    transport: Literal["auto", "httpx", "curl"] = Field(
        "auto",
        description="HTTP client: httpx; curl (curl_cffi as Chrome); auto: httpx, switching "
        "to curl on a bot-wall 403.",
    )
    http2: bool = Field(False, description="Let the httpx transport speak HTTP/2 (421s).")
    proxies: list[str] = Field(
        default_factory=list,
        description="Extra routes: 'http://host:port' or 'socks5://host:port' proxies, each "
        "with its own cookies and request budget.",
    )
    direct: bool = Field(True, description="Also fetch without a proxy (the direct route).")
    ca_bundle: Path | None = Field(
        None, description="PEM file of CAs to trust instead of the system's (a TLS proxy)."
    )

    # --- output ------------------------------------------------------------------------------
    log_format: Literal["text", "json"] = Field("text", description="Log line format.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Level.")
    dashboard_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "localhost", "[::1]"],
        description="Host names the dashboard answers (a DNS-rebinding guard); add the name "
        "you browse it by when serving beyond loopback.",
    )
    raw_capture: bool = Field(
        False, description="Also keep every chain body received, zstd, one file per interval."
    )

    # --- the Iceberg lake (opt-in: nothing changes without a catalog; `nsechain lake`) --------
    lake_catalog_url: str | None = Field(
        None,
        description="SQL catalog of the lake, e.g. postgresql+psycopg://user@host/db.",
    )
    lake_warehouse: str | None = Field(
        None, description="Where lake files go: a local folder or s3://bucket/prefix."
    )
    lake_namespace: str = Field("nsechain", description="Iceberg namespace of the lake tables.")
    lake_s3_endpoint: str | None = Field(
        None, description="S3 endpoint URL for an s3:// warehouse (keys from AWS_* variables)."
    )
    lake_s3_region: str = Field("us-east-1", description="S3 region of the warehouse bucket.")
    lake_batch_files: int = Field(200, ge=1, description="Tick files per lake commit at most.")
    lake_commit_deadline_s: float = Field(
        600.0, gt=0, description="Retry a conflicting lake commit for this long, then give up."
    )
    lake_orphan_grace_s: float = Field(
        86400.0, ge=3600, description="Never delete an unreferenced lake file younger than this."
    )
    lake_snapshot_retention_s: float = Field(
        7 * 86400.0, ge=3600, description="Lake snapshots older than this may be expired."
    )
    lake_compact_memory_mb: int = Field(
        1024,
        ge=512,  # 256 ran out sorting a full day
        description="Memory the sort of `lake compact` may hold; beyond it, it spills to the "
        "data dir's lake/sort-tmp.",
    )
    local_retention_days: int | None = Field(
        None,
        ge=1,
        description="Keep only this many recent days in the local DuckDB; older days are "
        "deleted once they are in the lake (default: keep everything).",
    )

    @field_validator(
        "symbols", "exclude_symbols", "session_overrides", "dashboard_hosts", mode="before"
    )
    @classmethod
    def _split_symbols(cls, value: Any, info: ValidationInfo) -> Any:
        # Accept "NIFTY,BANKNIFTY" from an env var or a flag as well as a list.
        if isinstance(value, str):
            value = [s for s in value.split(",") if s.strip()]
        if isinstance(value, list) and info.field_name in ("symbols", "exclude_symbols"):
            return [str(s).strip().upper() for s in value]
        return value

    @field_validator("symbols")
    @classmethod
    def _non_empty(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one symbol, or ALL")
        return value

    @field_validator("shard")
    @classmethod
    def _shard(cls, value: str | None) -> str | None:
        if value is not None:
            from nsechain.market.shard import parse_shard

            try:
                parse_shard(value)
            except ConfigError as exc:  # re-raised as ValueError so the message names the field
                raise ValueError(str(exc)) from None
        return value

    @field_validator("session_overrides")
    @classmethod
    def _overrides(cls, value: list[str]) -> list[str]:
        from nsechain.market.calendar import parse_override

        for text in value:
            try:
                parse_override(text)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("special_session_default")
    @classmethod
    def _special(cls, value: str) -> str:
        from nsechain.market.holidays import parse_session_times

        if parse_session_times(value) is None:
            raise ValueError("expected HH:MM-HH:MM, e.g. 13:45-19:15")
        return value

    @field_validator("proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("proxies")
    @classmethod
    def _proxy_urls(cls, value: list[str]) -> list[str]:
        for url in value:
            if not url.startswith(("http://", "https://", "socks5://", "socks5h://")):
                raise ValueError(f"{url!r}: a proxy starts with http://, https:// or socks5://")
        return value

    @field_validator("clock_start", "clock_anchor")
    @classmethod
    def _ist(cls, value: datetime | None) -> datetime | None:
        # A naive instant is IST wall time, as the simulator reads its start.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=IST)
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        toml_path = os.environ.get("NSECHAIN_CONFIG")
        toml = TomlConfigSettingsSource(settings_cls, toml_file=toml_path or "nsechain.toml")
        return (init_settings, env_settings, toml)

    @model_validator(mode="after")
    def _siblings(self) -> Settings:
        """The path rule: the data folder and the database are siblings, ``D/`` and
        ``D/../options_chain_data.duckdb``. Give one (flag, env or TOML), the other follows;
        give both, both count; give neither, ``data/`` and ``options_chain_data.duckdb`` here.
        """
        given = self.model_fields_set
        if "data_dir" in given and "db_path" not in given:
            self.__dict__["db_path"] = self.data_dir.parent / DB_NAME
        elif "db_path" in given and "data_dir" not in given:
            self.__dict__["data_dir"] = self.db_path.parent / DATA_NAME
        return self

    # --- derived paths (one place that knows the layout) -----------------------------------
    @property
    def pending_dir(self) -> Path:
        return self.data_dir / "options_parquet"

    @property
    def processed_dir(self) -> Path:
        return self.data_dir / "options_processed"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def raw_dir(self) -> Path:
        """Raw chain bodies (``raw_capture``), in the same YYYYMMDD day folders."""
        return self.data_dir / "raw"

    @property
    def status_path(self) -> Path:
        return self.data_dir / "status.json"

    @property
    def market_dir(self) -> Path:
        """Caches of NSE's holiday list and universe (with expiries)."""
        return self.data_dir / "market"

    @property
    def all_symbols(self) -> bool:
        return self.symbols == ["ALL"]


def load_settings(**overrides: Any) -> Settings:
    """Build Settings, turning validation errors into one clear ``ConfigError`` line.

    ``overrides`` whose value is None are ignored, so CLI options can pass through unset.
    """
    given = {k: v for k, v in overrides.items() if v is not None}
    toml_path = os.environ.get("NSECHAIN_CONFIG")
    if toml_path and not Path(toml_path).is_file():
        raise ConfigError(f"NSECHAIN_CONFIG={toml_path}: no such file; fix the path or unset it")
    try:
        return Settings(**given)
    except tomllib.TOMLDecodeError as exc:
        where = toml_path or "nsechain.toml"
        raise ConfigError(f"{where}: not valid TOML: {exc}; fix the file") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'settings'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from None
