"""The browser dashboard: static pages and scripts served by perpwatch itself.

Everything under ``static/`` is read once into memory (:mod:`perpwatch.dashboard.assets`)
and served with a Content-Security-Policy that allows only perpwatch's own origin. The
pages read the REST API and the push stream (``/ws``); no build step, nothing fetched
from the internet.
"""
