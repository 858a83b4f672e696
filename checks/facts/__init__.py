"""The built-in facts: one module per fact (``NAME.py``) with its shell text (``NAME.sh``).

Each module defines a small frozen dataclass for the fact's value, ``parse(text)`` returning it,
and ``FACT = fact("NAME", parse, ...)``; :func:`checks.fact.load_builtin_facts` discovers them.
A ``NAME.FAMILY.sh`` file specialises the text for one distribution family (the batch picks it
on the guest); ``vp_NAME.sh`` files are shared helper functions, prepended to every text that
calls them, so each text stays one standalone POSIX sh script (as shellcheck sees it).

Rules every shell text follows:

* absolute paths for tools that live in ``/sbin`` (non-root Debian sessions have no ``/sbin`` in
  ``PATH``; local-boot.md pitfall 10), and the batch preamble also exports a full ``PATH``;
* sections of multi-part output start with a ``### name`` line (:func:`checks.parsing.sections`);
* exit status 0 whenever the fact was collected, even when the answer is "absent";
* as few external programs as possible: under TCG emulation each fork+exec costs ~20-50 ms while
  shell builtins are nearly free, so small files are read with ``while IFS= read -r`` and matched
  with ``case`` (printing exactly what the grep/awk/cat it replaces printed; see
  ``tests/test_probe_texts.py``), and a tool that is needed runs once over all files;
* plain POSIX sh (dash, bash, busybox sh), run by ``eval`` in a subshell of the batch shell: every
  variable is set before use and helper functions are prefixed ``vp_``.
"""
