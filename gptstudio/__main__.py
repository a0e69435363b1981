"""`python -m gptstudio` behaves like the `gptstudio` command."""

from gptstudio.cli import main

raise SystemExit(main())
