"""nsechain.collector."""
