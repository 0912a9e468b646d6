"""nsechain.sim."""
