"""``python -m requests_sf_auth``: the same command line as ``requests-sf-auth``."""

from .cli import main

raise SystemExit(main())
