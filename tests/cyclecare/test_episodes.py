"""Cycle episodes: validated, authored by a clinician or a partner, free text encrypted at rest."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from clinician.models import AuditEvent
from cyclecare import services
from cyclecare.models import CycleEpisode
from tests.factories import ClinicianFactory, couple_with_partners, held_session

pytestmark = pytest.mark.django_db


@pytest.fixture
def couple_ab():
    return couple_with_partners()


def record(couple, **overrides):
    """episode_record by the couple's clinician with valid defaults."""
    details = {
        "actor": couple.primary_clinician.user,
        "couple": couple,
        "occurred_at": timezone.now() - datetime.timedelta(hours=2),
        "intensity": 6,
    }
    details.update(overrides)
    return services.episode_record(**details)


def refused(couple, **overrides) -> set[str]:
    """The error keys of a refused episode_record; nothing may have been saved."""
    before = CycleEpisode.objects.count()
    with pytest.raises(ValidationError) as excinfo:
        record(couple, **overrides)
    assert CycleEpisode.objects.count() == before
    return set(excinfo.value.error_dict)


def raw_column(table: str, column: str, pk: int) -> str:
    # Table and column names are this test's own constants, never input.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        (value,) = cursor.fetchone()
    return value if isinstance(value, str) else bytes(value).decode()


# CLINICIAN IN SESSION
# ------------------------------------------------------------------------------
def test_clinician_records_an_episode_seen_in_session(couple_ab):
    couple, a, b = couple_ab
    session = held_session(couple)
    episode = record(
        couple, pursuer=a, withdrawer=b, session=session, repair_attempted=True, repair_worked=False
    )
    episode.refresh_from_db()
    assert episode.source == CycleEpisode.Source.SESSION
    assert episode.recorded_by_clinician == couple.primary_clinician
    assert episode.reported_by is None
    assert episode.practice_id == couple.practice_id
    assert (episode.pursuer, episode.withdrawer, episode.session) == (a, b, session)
    assert AuditEvent.objects.filter(action="episode.record", target_id=str(episode.pk)).count() == 1


def test_clinician_episode_is_never_shared_with_partners(couple_ab):
    couple, _, _ = couple_ab
    assert record(couple, shared_with_partner=True).shared_with_partner is False


@pytest.mark.parametrize("intensity", [11, -1, 7.5, True])
def test_intensity_must_be_whole_number_0_to_10(couple_ab, intensity):
    couple, _, _ = couple_ab
    assert "intensity" in refused(couple, intensity=intensity)


@pytest.mark.parametrize("intensity", [0, 10])
def test_intensity_bounds_accepted(couple_ab, intensity):
    couple, _, _ = couple_ab
    assert record(couple, intensity=intensity).intensity == intensity


def test_database_rejects_intensity_11(couple_ab):
    couple, _, _ = couple_ab
    with pytest.raises(IntegrityError), transaction.atomic():
        CycleEpisode.objects.create(
            practice=couple.practice,
            couple=couple,
            occurred_at=timezone.now(),
            source=CycleEpisode.Source.SESSION,
            recorded_by_clinician=couple.primary_clinician,
            intensity=11,
        )


def test_database_rejects_an_episode_without_its_author(couple_ab):
    couple, _, _ = couple_ab
    with pytest.raises(IntegrityError), transaction.atomic():
        CycleEpisode.objects.create(
            practice=couple.practice,
            couple=couple,
            occurred_at=timezone.now(),
            source=CycleEpisode.Source.SELF_REPORT,
            intensity=3,
        )


def test_pursuer_and_withdrawer_are_different_partners(couple_ab):
    couple, a, _ = couple_ab
    assert "withdrawer" in refused(couple, pursuer=a, withdrawer=a)


def test_pursuer_must_belong_to_the_couple(couple_ab):
    couple, _, b = couple_ab
    _, stranger, _ = couple_with_partners(couple.primary_clinician)
    assert "pursuer" in refused(couple, pursuer=stranger, withdrawer=b)


def test_episode_cannot_be_in_the_future(couple_ab):
    couple, _, _ = couple_ab
    assert "occurred_at" in refused(couple, occurred_at=timezone.now() + datetime.timedelta(hours=1))


def test_naive_occurred_at_refused(couple_ab):
    couple, _, _ = couple_ab
    assert "occurred_at" in refused(couple, occurred_at=datetime.datetime(2025, 1, 1, 12, 0))


def test_repair_worked_needs_an_attempt(couple_ab):
    couple, _, _ = couple_ab
    assert "repair_worked" in refused(couple, repair_attempted=False, repair_worked=True)


def test_session_of_another_couple_refused(couple_ab):
    couple, _, _ = couple_ab
    other_couple, _, _ = couple_with_partners(couple.primary_clinician)
    assert "session" in refused(couple, session=held_session(other_couple))


def test_out_of_scope_clinician_cannot_record(couple_ab):
    couple, _, _ = couple_ab
    colleague = ClinicianFactory(practice=couple.practice)
    assert "couple" in refused(couple, actor=colleague.user)


# PARTNER SELF-REPORTS
# ------------------------------------------------------------------------------
def test_partner_self_report(couple_ab):
    couple, a, b = couple_ab
    episode = record(couple, actor=b, pursuer=a, withdrawer=b, shared_with_partner=True)
    episode.refresh_from_db()
    assert episode.source == CycleEpisode.Source.SELF_REPORT
    assert episode.reported_by == b
    assert episode.recorded_by_clinician is None
    assert episode.shared_with_partner is True
    event = AuditEvent.objects.get(action="episode.record", target_id=str(episode.pk))
    assert (event.actor_kind, event.actor_id) == (AuditEvent.ActorKind.PARTNER, str(b.pk))


def test_partner_cannot_log_for_another_couple(couple_ab):
    couple, _, _ = couple_ab
    _, outsider, _ = couple_with_partners()
    assert "couple" in refused(couple, actor=outsider)


def test_inactive_partner_cannot_log(couple_ab):
    couple, a, _ = couple_ab
    a.is_active = False
    a.save(update_fields=["is_active"])
    assert "couple" in refused(couple, actor=a)


def test_partner_cannot_link_a_session(couple_ab):
    couple, a, _ = couple_ab
    assert "session" in refused(couple, actor=a, session=held_session(couple))


# ENCRYPTION AT REST
# ------------------------------------------------------------------------------
def test_trigger_and_notes_are_encrypted_at_rest(couple_ab):
    couple, a, _ = couple_ab
    trigger = "Came home late without texting Vermillion"
    notes = "Slammed the door; stonewalled Quetzal for an hour"
    episode = record(couple, actor=a, trigger=trigger, notes=notes)
    for column, plaintext in (("trigger", trigger), ("notes", notes)):
        stored = raw_column("cyclecare_cycleepisode", column, episode.pk)
        assert stored
        assert plaintext not in stored
        assert plaintext.split()[-1] not in stored
    fresh = CycleEpisode.objects.get(pk=episode.pk)
    assert (fresh.trigger, fresh.notes) == (trigger, notes)


def test_empty_notes_read_back_as_empty_string(couple_ab):
    couple, _, _ = couple_ab
    episode = record(couple)
    assert CycleEpisode.objects.get(pk=episode.pk).notes == ""
