"""The I/O side of the pure decisions (as Greenwave's ``resources.py`` is to its ``policies.py``).

Each module wraps one service's real client library and turns its failures into
:mod:`relengotron.adapters.errors` (transient, not found, permanent — each naming the item):

- :mod:`.pdc` — component groups per release in whole pages, release info, release inactive;
- :mod:`.resultsdb` — latest results for many items in few requests, posting results;
- :mod:`.bugzilla` — open bugs of a product version, closing bugs as EOL;
- :mod:`.released` — the last released manifest of each artifact target, read back from what was published;
- :mod:`.mirror` — the master mirror and its archive tree (present paths, moves, the EOL marker).

Modules are imported one by one (no re-exports here), so using one adapter does not load every client.
"""
