"""nsechain.store."""
