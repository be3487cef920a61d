"""Practice reports: counts and means over the caller's administrative scope, never rows.

- ``common``: scope, the practice's calendar, one row per clinician with a total;
- ``filters``: the filters every report takes (the URL carries them), one parser for all;
- ``caseload``, ``engagement``, ``delivery``, ``outcomes``, ``cycle_trends``, ``safety``: the
  figures; ``overview``: the practice admin's first screen;
- ``registry``: the reports the pages, CSVs and API list; ``csv``: safe cells, streamed lines;
- ``rollups`` (what engagement, delivery and score pairs read) and ``router`` (the reports
  database and the statement timeout); ``export``: the de-identified check-in export.
"""
