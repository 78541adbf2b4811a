"""Cross-cutting pieces: settings, security, errors, encoding, logging, middleware."""
