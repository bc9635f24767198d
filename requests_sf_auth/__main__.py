"""``python -m requests_sf_auth``: the same command line as ``requests-sf-auth``."""

from ._cli import main

raise SystemExit(main())
