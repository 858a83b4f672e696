"""vmcert harness: runner, platforms, SSH sessions, replication and the command line."""

__version__ = "0.1.0"
