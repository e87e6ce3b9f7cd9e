"""`python -m local.devhost`."""

from local.devhost.cli import main

raise SystemExit(main())
