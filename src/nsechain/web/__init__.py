"""nsechain.web."""
