"""Allow ``python -m reliability``."""

from reliability.cli import main

raise SystemExit(main())
