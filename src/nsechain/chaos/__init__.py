"""Chaos testing: the crash-loop and fault-soak harness (``python -m nsechain.chaos``).

Where it sits: outside the product path. ``hooks`` is the only module the product imports (a
pause point the store calls at its narrow crash windows, inert unless an environment variable
names it); ``crashloop`` and ``soak`` drive a collector subprocess against the simulator and
check DESIGN.md §6's promises afterwards (``checks``). Keep this ``__init__`` free of imports:
the store imports ``nsechain.chaos.hooks`` on every start.
"""
