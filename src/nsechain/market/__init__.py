"""nsechain.market."""
