"""Practice reports: counts and means over the caller's administrative scope, never rows.

- ``common``: scope, the practice's calendar, one row per clinician with a total;
- ``filters``: the filters every report takes (the URL carries them);
- ``caseload``, ``engagement``, ``outcomes``: the figures; ``overview``: the admin's first screen.
"""
