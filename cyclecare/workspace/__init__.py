"""The clinician workspace: the pages a clinician works in (caseload, couple page, sessions,
notes, cycle map, homework, separation), their forms, the cycle map's diagram, templates
(``cyclecare/templates/workspace/``) and static files (``cyclecare/static/workspace/``). Its
charts are drawn by ``cyclecare.charts``, which the partner pages share.

The top floor: it imports the platform (``clinician``), ``couples`` and the cycle domain;
nothing below imports it. Sign-in stays in the platform (``clinician.views.auth``)."""
