"""The built-in check areas, one module per area; :func:`checks.registry.load_builtin_checks`
imports every module here (modules starting with ``_`` are helpers, not areas)."""
