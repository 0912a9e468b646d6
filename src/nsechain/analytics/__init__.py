"""nsechain.analytics."""
