"""What ``perpwatch serve`` starts besides the API, so that one command runs the whole service.

``EMBEDDED_REDIS=true``: a private ``redis-server`` (:mod:`.redis_server`).
``SERVE_WORKERS=N``: N ``perpwatch worker`` child processes (:mod:`.workers`), restarted
when they die; the serve process is then a pure API. :mod:`.supervisor` composes them
for ``cmd_serve`` and stops them in order (workers, then Redis) when the API stops.
:mod:`.child` is how every child dies with the parent, even when the parent cannot stop
them (SIGKILL, a crash).

Nothing here runs on the API's event loop: children start before uvicorn, stop after
it, and are watched from a thread.

This ``__init__`` imports nothing: ``python -m perpwatch.embedded.child`` starts fast.
"""
