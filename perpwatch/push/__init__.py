"""Live push: events published by whoever computes, delivered by every API process.

* :mod:`.events` -- the event shapes and their wire frames;
* :mod:`.bus` / :mod:`.redis_bus` -- where events live for resume: a capped Redis stream
  per channel (any replica reads any worker's events), or memory in memory-only mode;
* :mod:`.publisher` -- turns new analyses and funding tables into events;
* :mod:`.hub` -- one reader per channel per API process, fanning out to its clients;
* :mod:`.session` -- one client's subscription, bounded queue, snapshot and resume;
* :mod:`.subscription` -- parsing what a client asks for.
"""
