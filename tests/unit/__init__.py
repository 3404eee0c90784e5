"""Unit tests: no processes, no sockets."""
