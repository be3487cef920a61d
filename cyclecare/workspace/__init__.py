"""The clinician workspace: the pages a clinician works in (caseload, couple page, sessions,
notes, cycle map, homework, separation), their forms, charts, templates
(``cyclecare/templates/workspace/``) and static files (``cyclecare/static/workspace/``).

The top floor: it imports the platform (``clinician``), ``couples`` and the cycle domain;
nothing below imports it. Sign-in stays in the platform (``clinician.views.auth``)."""
