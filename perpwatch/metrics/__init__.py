"""Prometheus metrics (``GET /metrics``).

:mod:`~perpwatch.metrics.registry` names every metric once; domain modules call the small
functions of :mod:`~perpwatch.metrics.record` where a value is produced (in whichever
process: with ``PROMETHEUS_MULTIPROC_DIR`` they are written to per-process files);
:mod:`~perpwatch.metrics.snapshot` reads the API process's own counters and status at
scrape time; :mod:`~perpwatch.metrics.exposition` renders both as text.
"""
