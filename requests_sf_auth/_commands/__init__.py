"""The commands behind ``requests-sf-auth`` (wired together in :mod:`requests_sf_auth._cli`).

``outcome`` holds the exit codes every command shares and the failures that carry them;
``settings`` turns flags and environment variables into a :class:`~requests_sf_auth.SalesforceAuth`;
``cache`` keeps tokens between runs; ``known`` masks the run's credentials in all it prints
from a server; ``demo``, ``check``, ``token`` and ``request`` are the commands themselves.
"""
