"""A couple with a long between-session history, written in bulk (the services would take
minutes for two years of daily check-ins): the data the couple page, the caseload and
bench/dashboard_bench.py are measured on.

Per day, both partners have a check-in occurrence (most completed with a daily cycle check-in,
some missed); per week, both partners answer the CSI-4, the couple has a held joint session
(with a note on most) and about three episodes (both sources, repairs tried and working more
often as time goes on). One resolved and one open safety flag; one session scheduled ahead.
"""

import datetime
import random
from dataclasses import dataclass

from django.utils import timezone

from clinician.models import Clinician
from couples.models import Couple, Partner, SessionNote, TherapySession
from cyclecare.models import Assignment, CheckIn, CycleEpisode, Occurrence, SafetyFlag
from tests.factories import shipped_instruments

CSI_ITEMS = ("csi1", "csi12", "csi19", "csi22")


@dataclass
class History:
    days: int
    occurrences: int
    checkins: int
    sessions: int
    episodes: int


def build_history(
    couple: Couple,
    a: Partner,
    b: Partner,
    *,
    days: int = 730,
    seed: int = 7,
    now: datetime.datetime | None = None,
) -> History:
    now = now or timezone.now()
    rng = random.Random(seed)  # noqa: S311 - test data, not secrets
    clinician: Clinician = couple.primary_clinician
    practice_id = couple.practice_id
    instruments = shipped_instruments()
    checkin_instrument, csi = instruments["cycle-checkin"], instruments["csi-4"]
    start = now - datetime.timedelta(days=days)
    assignment = Assignment.objects.create(
        practice_id=practice_id,
        couple=couple,
        assigned_by=clinician,
        kind=Assignment.Kind.CHECK_IN,
        title="Daily check-in",
        instrument=checkin_instrument,
        schedule=Assignment.Schedule.DAILY,
        local_time=datetime.time(20, 0),
        starts_on=start.date(),
    )
    assignment.partners.set([a, b])

    occurrences = []
    for day in range(days):
        due_at = start + datetime.timedelta(days=day)
        for partner in (a, b):
            done = rng.random() < (0.85 if partner is a else 0.7)
            occurrences.append(
                Occurrence(
                    practice_id=practice_id,
                    assignment=assignment,
                    partner=partner,
                    local_due_date=due_at.date(),
                    local_due_time=datetime.time(20, 0),
                    due_at=due_at,
                    status=Occurrence.Status.COMPLETED if done else Occurrence.Status.MISSED,
                    completed_at=due_at + datetime.timedelta(minutes=30) if done else None,
                )
            )
    Occurrence.objects.bulk_create(occurrences, batch_size=500)
    checkins = [
        CheckIn(
            practice_id=practice_id,
            couple=couple,
            partner_id=occurrence.partner_id,
            instrument=checkin_instrument,
            occurrence=occurrence,
            submitted_at=occurrence.completed_at,
            answers={"cycle_showed_up": rng.random() < 0.4, "connection": rng.randint(2, 9)},
        )
        for occurrence in Occurrence.objects.filter(assignment=assignment, status=Occurrence.Status.COMPLETED)
    ]
    weeks = days // 7
    for week in range(weeks):
        at = start + datetime.timedelta(weeks=week, hours=1)
        progress = week / max(weeks - 1, 1)
        for partner, low in ((a, 6), (b, 9)):
            total = min(21, round(low + progress * 8 + rng.uniform(-1.5, 1.5)))
            answers = _csi_answers(total)
            checkins.append(
                CheckIn(
                    practice_id=practice_id,
                    couple=couple,
                    partner=partner,
                    instrument=csi,
                    submitted_at=at,
                    answers=answers,
                    total_score=sum(answers.values()),
                )
            )
    CheckIn.objects.bulk_create(checkins, batch_size=500)

    sessions = [
        TherapySession(
            practice_id=practice_id,
            couple=couple,
            clinician=clinician,
            starts_at=start + datetime.timedelta(weeks=week, days=2, hours=15),
            status=TherapySession.Status.HELD if rng.random() < 0.92 else TherapySession.Status.CANCELLED,
        )
        for week in range(weeks)
    ]
    sessions.append(
        TherapySession(
            practice_id=practice_id,
            couple=couple,
            clinician=clinician,
            starts_at=now + datetime.timedelta(days=3),
        )
    )
    TherapySession.objects.bulk_create(sessions)
    held = list(couple.sessions.filter(status=TherapySession.Status.HELD).order_by("starts_at"))
    # Every held session but the latest has a note; the latest is still to be written.
    SessionNote.objects.bulk_create(
        [
            SessionNote(practice_id=practice_id, session=session, author=clinician, data="Session content.")
            for session in held[:-1]
        ]
    )

    episodes = []
    for week in range(weeks):
        progress = week / max(weeks - 1, 1)
        for _ in range(rng.randint(1, 5)):
            at = start + datetime.timedelta(weeks=week, hours=rng.randint(0, 24 * 7 - 1))
            self_report = rng.random() < 0.7
            attempted = rng.random() < 0.4 + 0.5 * progress
            episodes.append(
                CycleEpisode(
                    practice_id=practice_id,
                    couple=couple,
                    occurred_at=at,
                    source=CycleEpisode.Source.SELF_REPORT if self_report else CycleEpisode.Source.SESSION,
                    reported_by=rng.choice((a, b)) if self_report else None,
                    recorded_by_clinician=None if self_report else clinician,
                    pursuer=a if rng.random() < 0.85 else b,
                    withdrawer=None,
                    intensity=max(0, min(10, round(8 - 4 * progress + rng.uniform(-2, 2)))),
                    duration_minutes=rng.randint(5, 120),
                    repair_attempted=attempted,
                    repair_worked=(rng.random() < 0.3 + 0.5 * progress) if attempted else None,
                )
            )
    for episode in episodes:
        episode.withdrawer = b if episode.pursuer == a else a
    CycleEpisode.objects.bulk_create(episodes, batch_size=500)

    SafetyFlag.objects.bulk_create(
        [
            SafetyFlag(
                practice_id=practice_id,
                couple=couple,
                partner=b,
                source=SafetyFlag.Source.CLINICIAN,
                status=SafetyFlag.Status.RESOLVED,
                raised_at=now - datetime.timedelta(days=200),
                resolved_at=now - datetime.timedelta(days=199),
                resolved_by=clinician,
            ),
            SafetyFlag(
                practice_id=practice_id,
                couple=couple,
                partner=a,
                source=SafetyFlag.Source.CHECK_IN,
                raised_at=now - datetime.timedelta(days=2),
            ),
        ]
    )
    return History(
        days=days,
        occurrences=len(occurrences),
        checkins=len(checkins),
        sessions=len(sessions),
        episodes=len(episodes),
    )


def _csi_answers(total: int) -> dict[str, int]:
    """CSI-4 answers summing to ``total`` (item 1 scored 0–6, the others 0–5)."""
    answers, left = {}, max(0, min(21, total))
    for code, high in zip(CSI_ITEMS, (6, 5, 5, 5), strict=True):
        answers[code] = min(high, left)
        left -= answers[code]
    return answers
