"""The background refresh schedule."""
