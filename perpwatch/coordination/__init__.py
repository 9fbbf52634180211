"""How perpwatch processes that share a Redis work together: one elected scheduler (a
lease), cycles that run once, shards of a cycle that any worker takes, and a registry
of the live processes."""
