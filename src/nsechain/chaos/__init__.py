"""Chaos testing: the crash-loop and fault-soak harness (``python -m nsechain.chaos``).

Where it sits: outside the product path, above it: the product imports nothing from here. The
store owns its crash points (``store.crashpoints``: pause points at its narrow crash windows,
inert unless an environment variable names one); ``crashloop`` and ``soak`` drive a collector
subprocess against the simulator, stop it at those points, and check DESIGN.md §6's promises
afterwards (``checks``).
"""
