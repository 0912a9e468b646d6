"""nsechain.lake: the optional Apache Iceberg lake (extra ``nsechain[lake]``).

Where it sits: just above ``store`` (it reads the collector's processed tick files with
``store.files`` and opens DuckDB through ``store.db``), below the desk (``query``, which reads
history from it), the collector (its lake thread) and ``cli`` (``nsechain lake …``); they
import it lazily, only when a lake is configured, and the embedded default (DuckDB + local
Parquet) never needs it. Modules:

- ``tables``: the catalog (pyiceberg's SQL catalog, PostgreSQL in production), the warehouse
  (a local folder or ``s3://``), the two tables ``option_quotes`` and ``fetch_log``, each
  partitioned by ``day()`` of its timestamp, and the retry loop every commit goes through;
- ``ledger``: this collector's own journal of batches (which tick files are in the lake);
- ``writer``: stage tick files into the warehouse and register them with ``add_files``,
  exactly once (a batch id in each snapshot summary, checked before every commit);
- ``maintain``: compaction of a day (one atomic overwrite, sorted), snapshot expiry and the
  removal of orphan files;
- ``reader``: the desk's view of the lake (pyiceberg plans the files, DuckDB scans them);
- ``retention``: ``local_retention_days``, old days out of the local DuckDB once in the lake.
"""
