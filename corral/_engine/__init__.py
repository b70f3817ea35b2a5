"""The worker engine: fetching, running, renewing locks, stalled checks, hooks and signals."""
