"""``python -m gateway`` is the ``smsgw`` command."""

from gateway.runtime.commands import main

raise SystemExit(main())
