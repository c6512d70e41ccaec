"""`python -m sysphase`: the same as the `sysphase` command."""

from sysphase.cli.main import main

raise SystemExit(main())
