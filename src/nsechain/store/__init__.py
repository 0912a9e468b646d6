"""nsechain.store: tick files on disk and their exactly-once load into DuckDB.

``paths`` (layout), ``files`` (atomic writes, tick files, quarantine), ``db`` (DuckDB
connection and one batch's SQL), ``loader`` (the batch loader), ``crashpoints`` (the pause
points the crash harness stops the store at). Import from the submodules;
this package imports nothing so that the tick writer does not pull in DuckDB.
"""
