"""nsechain.nse."""
