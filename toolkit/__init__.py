"""General tooling with no health-code knowledge: cross-process file locks and atomic JSON files
(:mod:`.filelock`), a circuit breaker for HTTP clients (:mod:`.breaker`), and bounded JSON input
(:mod:`.jsonin`)."""
