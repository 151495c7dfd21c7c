"""``python -m pioneer`` runs the command line (as the ``pioneer`` script does)."""

from pioneer.cli import main

main()
