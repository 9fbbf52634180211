"""One adapter per way out (webhook, Telegram, Apprise). Each turns its library's errors
into :mod:`perpwatch.errors`' delivery errors at the edge: temporary (retried),
rate limited (retried after ``Retry-After``) or permanent (not retried)."""
