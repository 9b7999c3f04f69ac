"""bench/hotline: the hotline's concurrent-call benchmark (see README.md)."""
