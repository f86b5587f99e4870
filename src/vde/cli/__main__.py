"""``python -m vde.cli`` runs the ``vde`` command (used by tests and service units)."""

from vde.cli import main

main()
