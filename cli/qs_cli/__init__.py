"""qs: the Queue Services command line. It talks only to the HTTP API (except create_key, the bootstrap)."""
