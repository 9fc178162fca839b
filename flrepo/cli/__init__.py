"""The `flrepo` command line: one module a command (serve, seed, check, scan, token)."""
