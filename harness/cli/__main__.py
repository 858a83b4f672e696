"""``python -m harness.cli`` runs the vmcert command line."""

from harness.cli import main

main()
