# ruff: noqa: E501
"""Generated from the Settings field descriptions: do not edit.

Regenerate: ``python -m nsechain.cli._settings && ruff format`` (a test checks it).
Where it sits: under ``cli._settings``; a plain dict, so ``--help`` needs no pydantic.
"""

HELP: dict[str, tuple[str, str]] = {
    "data_dir": (
        "Root of Parquet, quarantine and status (the database defaults to its sibling).",
        "[default: data; env NSECHAIN_DATA_DIR]",
    ),
    "db_path": (
        "DuckDB database file the batch loads (defaults to the data dir's sibling).",
        "[default: options_chain_data.duckdb; env NSECHAIN_DB_PATH]",
    ),
    "spill_dir": (
        "Where interval files go while the data dir refuses writes (another disk; one collector's own: its start-up moves what it finds there back to pending); unset: held in memory, then dropped with a log line.",
        "[default: none; env NSECHAIN_SPILL_DIR]",
    ),
    "symbols": (
        "Underlyings to record, or ['ALL'] for the whole F&O universe.",
        "[default: NIFTY,BANKNIFTY,FINNIFTY,MIDCPNIFTY,NIFTYNXT50; env NSECHAIN_SYMBOLS]",
    ),
    "exclude_symbols": (
        "Underlyings to leave out (with ALL).",
        "[default: ; env NSECHAIN_EXCLUDE_SYMBOLS]",
    ),
    "universe_kind": (
        "Restrict the universe to indices or stocks.",
        "[default: all; env NSECHAIN_UNIVERSE_KIND]",
    ),
    "expiries_per_symbol": (
        "Nearest N expiries per symbol; 0 = every listed expiry.",
        "[default: 0; env NSECHAIN_EXPIRIES_PER_SYMBOL]",
    ),
    "shard": (
        "'i/N': record only this collector's share of the universe (0-based).",
        "[default: none; env NSECHAIN_SHARD]",
    ),
    "plan_headroom": (
        "Share of the budget kept free for retries and refreshes.",
        "[default: 0.2; env NSECHAIN_PLAN_HEADROOM]",
    ),
    "plan_index_near": (
        "Index expiries in the top tier.",
        "[default: 2; env NSECHAIN_PLAN_INDEX_NEAR]",
    ),
    "plan_weight_index": (
        "Relative cadence, near indices.",
        "[default: 60.0; env NSECHAIN_PLAN_WEIGHT_INDEX]",
    ),
    "plan_weight_stock": (
        "Relative cadence, near stocks.",
        "[default: 4.0; env NSECHAIN_PLAN_WEIGHT_STOCK]",
    ),
    "plan_weight_far": (
        "Relative cadence, far expiries.",
        "[default: 1.0; env NSECHAIN_PLAN_WEIGHT_FAR]",
    ),
    "interval_s": (
        "Seconds between ticks (wall-clock aligned).",
        "[default: 60.0; env NSECHAIN_INTERVAL_S]",
    ),
    "batch_interval_s": (
        "Seconds between DuckDB loads.",
        "[default: 300.0; env NSECHAIN_BATCH_INTERVAL_S]",
    ),
    "ignore_market_hours": (
        "Collect outside NSE market hours too.",
        "[default: False; env NSECHAIN_IGNORE_MARKET_HOURS]",
    ),
    "status_interval_s": (
        "Seconds between status.json writes.",
        "[default: 2.0; env NSECHAIN_STATUS_INTERVAL_S]",
    ),
    "after_close_snapshot": (
        "Take one more snapshot just after the close (closing OI).",
        "[default: True; env NSECHAIN_AFTER_CLOSE_SNAPSHOT]",
    ),
    "sort_closed_days": (
        "While the market is closed, rewrite each closed day's quotes sorted by symbol, in place, one day between loads (`nsechain compact` does the whole file).",
        "[default: True; env NSECHAIN_SORT_CLOSED_DAYS]",
    ),
    "session_overrides": (
        "Extra or changed sessions: '2026-11-08 18:00-19:15 Muhurat', '2026-03-02 closed outage'.",
        "[default: ; env NSECHAIN_SESSION_OVERRIDES]",
    ),
    "special_session_default": (
        "Hours of a special (*) session NSE has not timed yet.",
        "[default: 13:45-19:15; env NSECHAIN_SPECIAL_SESSION_DEFAULT]",
    ),
    "clock_start": (
        "Run on a market clock from this instant (ISO; naive = IST) instead of the wall clock: for a simulator on another day. Intervals are then clock seconds.",
        "[default: none; env NSECHAIN_CLOCK_START]",
    ),
    "clock_speed": (
        "Clock seconds per wall second of that clock (0 stands still).",
        "[default: 1.0; env NSECHAIN_CLOCK_SPEED]",
    ),
    "clock_anchor": (
        "Wall time (ISO) at which that clock read clock_start; default: when the process starts. Lets a harness start collectors on a simulator's running clock.",
        "[default: none; env NSECHAIN_CLOCK_ANCHOR]",
    ),
    "base_url": (
        "NSE (or simulator) base URL.",
        "[default: https://www.nseindia.com; env NSECHAIN_BASE_URL]",
    ),
    "rate": (
        "Request budget, requests per second, all calls.",
        "[default: 3.0; env NSECHAIN_RATE]",
    ),
    "burst": (
        "Token-bucket burst size (1: requests in flight bunch anyway).",
        "[default: 1; env NSECHAIN_BURST]",
    ),
    "in_flight": (
        "Requests in flight at once (0: enough to fill the budget at 1.5 s latency).",
        "[default: 0; env NSECHAIN_IN_FLIGHT]",
    ),
    "timeout_s": (
        "Timeout of each network read, seconds.",
        "[default: 10.0; env NSECHAIN_TIMEOUT_S]",
    ),
    "deadline_s": (
        "Whole-request deadline in seconds (a slow drip ends here).",
        "[default: 30.0; env NSECHAIN_DEADLINE_S]",
    ),
    "max_body_bytes": (
        "Cap on a decompressed response body, bytes.",
        "[default: 33554432; env NSECHAIN_MAX_BODY_BYTES]",
    ),
    "check_exchange_ts": (
        "Refuse snapshots whose NSE timestamp is older than the previous session's close or ahead of the collector's clock (clock_start puts it on a simulator's day).",
        "[default: True; env NSECHAIN_CHECK_EXCHANGE_TS]",
    ),
    "max_wire_bytes": (
        "Cap on a response body as sent (compressed).",
        "[default: 33554432; env NSECHAIN_MAX_WIRE_BYTES]",
    ),
    "max_retries": ("Retries of a transient failure.", "[default: 3; env NSECHAIN_MAX_RETRIES]"),
    "backoff_base_s": (
        "First retry delay; doubles, jittered.",
        "[default: 0.5; env NSECHAIN_BACKOFF_BASE_S]",
    ),
    "backoff_max_s": ("Longest single retry delay.", "[default: 30.0; env NSECHAIN_BACKOFF_MAX_S]"),
    "cookie_max_age_s": (
        "Re-bootstrap cookies after this many seconds.",
        "[default: 1800.0; env NSECHAIN_COOKIE_MAX_AGE_S]",
    ),
    "block_cooloff_s": (
        "Pause after a 403 rate block (NSE blocks for ~10 minutes).",
        "[default: 600.0; env NSECHAIN_BLOCK_COOLOFF_S]",
    ),
    "user_agent": (
        "Browser User-Agent NSE expects (httpx transport).",
        "[default: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36; env NSECHAIN_USER_AGENT]",
    ),
    "transport": (
        "HTTP client: httpx; curl (curl_cffi as Chrome); auto: httpx, switching to curl on a bot-wall 403.",
        "[default: auto; env NSECHAIN_TRANSPORT]",
    ),
    "http2": (
        "Let the httpx transport speak HTTP/2 (421s).",
        "[default: False; env NSECHAIN_HTTP2]",
    ),
    "proxies": (
        "Extra routes: 'http://host:port' or 'socks5://host:port' proxies, each with its own cookies and request budget.",
        "[default: ; env NSECHAIN_PROXIES]",
    ),
    "direct": (
        "Also fetch without a proxy (the direct route).",
        "[default: True; env NSECHAIN_DIRECT]",
    ),
    "ca_bundle": (
        "PEM file of CAs to trust instead of the system's (a TLS proxy).",
        "[default: none; env NSECHAIN_CA_BUNDLE]",
    ),
    "log_format": ("Log line format.", "[default: text; env NSECHAIN_LOG_FORMAT]"),
    "log_level": ("Level.", "[default: INFO; env NSECHAIN_LOG_LEVEL]"),
    "dashboard_hosts": (
        "Host names the dashboard answers (a DNS-rebinding guard); add the name you browse it by when serving beyond loopback.",
        "[default: 127.0.0.1,localhost,[::1]; env NSECHAIN_DASHBOARD_HOSTS]",
    ),
    "raw_capture": (
        "Also keep every chain body received, zstd, one file per interval.",
        "[default: False; env NSECHAIN_RAW_CAPTURE]",
    ),
    "lake_catalog_url": (
        "SQL catalog of the lake, e.g. postgresql+psycopg://user@host/db.",
        "[default: none; env NSECHAIN_LAKE_CATALOG_URL]",
    ),
    "lake_warehouse": (
        "Where lake files go: a local folder or s3://bucket/prefix.",
        "[default: none; env NSECHAIN_LAKE_WAREHOUSE]",
    ),
    "lake_namespace": (
        "Iceberg namespace of the lake tables.",
        "[default: nsechain; env NSECHAIN_LAKE_NAMESPACE]",
    ),
    "lake_s3_endpoint": (
        "S3 endpoint URL for an s3:// warehouse (keys from AWS_* variables).",
        "[default: none; env NSECHAIN_LAKE_S3_ENDPOINT]",
    ),
    "lake_s3_region": (
        "S3 region of the warehouse bucket.",
        "[default: us-east-1; env NSECHAIN_LAKE_S3_REGION]",
    ),
    "lake_batch_files": (
        "Tick files per lake commit at most.",
        "[default: 200; env NSECHAIN_LAKE_BATCH_FILES]",
    ),
    "lake_commit_deadline_s": (
        "Retry a conflicting lake commit for this long, then give up.",
        "[default: 600.0; env NSECHAIN_LAKE_COMMIT_DEADLINE_S]",
    ),
    "lake_orphan_grace_s": (
        "Never delete an unreferenced lake file younger than this.",
        "[default: 86400.0; env NSECHAIN_LAKE_ORPHAN_GRACE_S]",
    ),
    "lake_snapshot_retention_s": (
        "Lake snapshots older than this may be expired.",
        "[default: 604800.0; env NSECHAIN_LAKE_SNAPSHOT_RETENTION_S]",
    ),
    "lake_compact_memory_mb": (
        "Memory the sort of `lake compact` may hold; beyond it, it spills to the data dir's lake/sort-tmp.",
        "[default: 1024; env NSECHAIN_LAKE_COMPACT_MEMORY_MB]",
    ),
    "local_retention_days": (
        "Keep only this many recent days in the local DuckDB; older days are deleted once they are in the lake (default: keep everything).",
        "[default: none; env NSECHAIN_LOCAL_RETENTION_DAYS]",
    ),
}
