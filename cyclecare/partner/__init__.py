"""The partner pages (top floor): check-in, home, episode log, sharing, sign-out.

Mounted by ``cyclecare.urls`` under ``p/`` (namespace ``cyclecare:partner``)."""
