"""``python -m cnnkit ...`` runs the command line (see :mod:`cnnkit.cli`)."""

from cnnkit.cli import main

raise SystemExit(main())
