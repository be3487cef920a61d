"""Check-ins: one per occurrence, safety flags that reach the clinician once and without PHI,
and privacy between partners."""

import datetime
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from cyclecare import selectors, services
from cyclecare.models import CheckIn, Occurrence, SafetyFlag
from tests.factories import couple_with_partners, daily_checkin, shipped_instruments

pytestmark = pytest.mark.django_db

CALM = {"cycle_showed_up": True, "my_move": "toward", "intensity": 3, "connection": 7, "felt_unsafe": False}


@pytest.fixture
def world():
    """A couple on a daily check-in, with today's occurrence for each partner."""
    instruments = shipped_instruments()
    couple, a, b = couple_with_partners(names=("Marisol Quenby", "Dorian Thistlewood"))
    assignment = daily_checkin(couple, [a, b], instrument=instruments["cycle-checkin"])
    occurrences = {
        p.seat: services.occurrence_materialise(
            assignment=assignment,
            partner=p,
            local_due_date=timezone.localdate(),
            local_due_time=datetime.time(20),
        )[0]
        for p in (a, b)
    }
    return SimpleNamespace(
        couple=couple,
        a=a,
        b=b,
        instruments=instruments,
        checkin=instruments["cycle-checkin"],
        assignment=assignment,
        occ_a=occurrences[1],
        occ_b=occurrences[2],
    )


def submit(w, partner=None, answers=None, **extra):
    return services.checkin_submit(
        partner=partner or w.a,
        instrument=extra.pop("instrument", w.checkin),
        answers=answers or CALM,
        **extra,
    )


def raw_column(table: str, column: str, pk: int) -> str:
    # Table and column names are this test's own constants, never input.
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {column} FROM {table} WHERE id = %s", [pk])  # noqa: S608
        (value,) = cursor.fetchone()
    return value if isinstance(value, str) else bytes(value).decode()


# ONE CHECK-IN PER OCCURRENCE
# ------------------------------------------------------------------------------
def test_submit_completes_the_occurrence(world):
    checkin = submit(world, occurrence=world.occ_a)
    world.occ_a.refresh_from_db()
    assert world.occ_a.status == Occurrence.Status.COMPLETED
    assert world.occ_a.completed_at is not None
    assert checkin.occurrence == world.occ_a
    assert checkin.couple_id == world.couple.pk and checkin.practice_id == world.couple.practice_id
    # The other partner's occurrence is untouched.
    world.occ_b.refresh_from_db()
    assert world.occ_b.status == Occurrence.Status.PENDING


def test_second_submit_for_the_same_occurrence_refused(world):
    submit(world, occurrence=world.occ_a)
    with pytest.raises(ValidationError) as excinfo:
        submit(world, occurrence=world.occ_a)
    assert [e.code for e in excinfo.value.error_dict["occurrence"]] == ["already_completed"]
    assert CheckIn.objects.filter(occurrence=world.occ_a).count() == 1
    assert CheckIn.objects.count() == 1


def test_database_allows_one_checkin_per_occurrence(world):
    first = submit(world, occurrence=world.occ_a)
    with pytest.raises(IntegrityError), transaction.atomic():
        CheckIn.objects.create(
            practice_id=first.practice_id,
            couple_id=first.couple_id,
            partner=world.a,
            instrument=world.checkin,
            occurrence=world.occ_a,
            submitted_at=timezone.now(),
            answers=CALM,
        )


def test_another_partners_occurrence_refused(world):
    with pytest.raises(ValidationError) as excinfo:
        submit(world, partner=world.a, occurrence=world.occ_b)
    assert "occurrence" in excinfo.value.error_dict
    assert not CheckIn.objects.exists()
    world.occ_b.refresh_from_db()
    assert world.occ_b.status == Occurrence.Status.PENDING


def test_a_different_instrument_than_assigned_refused(world):
    with pytest.raises(ValidationError) as excinfo:
        submit(
            world,
            instrument=world.instruments["csi-4"],
            answers={"csi1": 3, "csi12": 3, "csi19": 3, "csi22": 3},
            occurrence=world.occ_a,
        )
    assert "instrument" in excinfo.value.error_dict


def test_cancelled_occurrence_refused(world):
    services.assignment_set_status(
        user=world.couple.primary_clinician.user, assignment=world.assignment, status="ended"
    )
    with pytest.raises(ValidationError) as excinfo:
        submit(world, occurrence=world.occ_a)
    assert "occurrence" in excinfo.value.error_dict
    assert not CheckIn.objects.exists()


def test_invalid_answers_save_nothing(world):
    with pytest.raises(ValidationError) as excinfo:
        submit(world, answers={**CALM, "connection": 11}, occurrence=world.occ_a)
    assert set(excinfo.value.error_dict) == {"connection"}
    assert not CheckIn.objects.exists()
    world.occ_a.refresh_from_db()
    assert world.occ_a.status == Occurrence.Status.PENDING


def test_inactive_partner_cannot_submit(world):
    world.a.is_active = False
    world.a.save(update_fields=["is_active"])
    with pytest.raises(ValidationError) as excinfo:
        submit(world)
    assert "partner" in excinfo.value.error_dict


# SAFETY
# ------------------------------------------------------------------------------
def test_safety_answer_raises_one_flag_and_one_phi_free_email(world, django_capture_on_commit_callbacks):
    answers = {**CALM, "felt_unsafe": True}
    with django_capture_on_commit_callbacks(execute=True):
        checkin = submit(world, answers=answers, occurrence=world.occ_a)
    flag = SafetyFlag.objects.get()
    assert (flag.checkin, flag.partner, flag.couple) == (checkin, world.a, world.couple)
    assert flag.source == SafetyFlag.Source.CHECK_IN
    assert flag.status == SafetyFlag.Status.OPEN
    assert flag.clinician_notified_at is not None

    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [world.couple.primary_clinician.user.email]
    text = f"{message.subject}\n{message.body}"
    question = next(i for i in world.checkin.definition["items"] if i["code"] == "felt_unsafe")["text"]["en"]
    for phi in (
        world.a.display_name,
        world.a.display_name.split()[0],
        world.b.display_name,
        world.a.email,
        world.couple.label,
        "felt_unsafe",
        question,
        "afraid",
    ):
        assert phi not in text, f"{phi!r} is in the clinician email"

    # Sent at most once per flag: a retry (or the reconciler) sends nothing more.
    assert services.safety_flag_notify_clinician(flag_id=flag.pk) is False
    assert len(mail.outbox) == 1
    assert services.safety_flags_pending_notification() == []


def test_no_flag_and_no_email_without_a_safety_answer(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        submit(world, occurrence=world.occ_a)
    assert not SafetyFlag.objects.exists()
    assert mail.outbox == []


def test_email_waits_for_the_commit(world, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        submit(world, answers={**CALM, "felt_unsafe": True})
    assert mail.outbox == []
    assert callbacks  # the notification is queued for after the commit


def test_positive_hits_screen_raises_a_screen_flag(world, django_capture_on_commit_callbacks):
    hits = world.instruments["hits"]
    with django_capture_on_commit_callbacks(execute=True):
        checkin = submit(world, instrument=hits, answers={"hurt": 2, "insult": 3, "threaten": 3, "scream": 3})
    assert checkin.total_score == 11
    flag = SafetyFlag.objects.get()
    assert flag.source == SafetyFlag.Source.SCREEN
    assert flag.checkin == checkin
    assert len(mail.outbox) == 1


def test_negative_hits_screen_raises_no_flag(world):
    submit(
        world,
        instrument=world.instruments["hits"],
        answers={"hurt": 1, "insult": 3, "threaten": 3, "scream": 3},
    )
    assert not SafetyFlag.objects.exists()


def test_scores_are_stored(world):
    checkin = submit(
        world, instrument=world.instruments["csi-4"], answers={"csi1": 4, "csi12": 3, "csi19": 3, "csi22": 3}
    )
    checkin.refresh_from_db()
    assert checkin.total_score == 13


# PRIVACY BETWEEN PARTNERS
# ------------------------------------------------------------------------------
def test_other_partners_checkins_hidden_unless_shared(world):
    private = submit(world, partner=world.a)
    shared = submit(world, partner=world.a, shared_with_partner=True)
    assert list(selectors.shared_checkins_from_other_partner(partner=world.b)) == [shared]
    assert private not in selectors.shared_checkins_from_other_partner(partner=world.b)
    # One's own check-ins are not "from the other partner".
    assert not selectors.shared_checkins_from_other_partner(partner=world.a).exists()
    assert set(selectors.checkins_for_partner(partner=world.a)) == {private, shared}
    assert not selectors.checkins_for_partner(partner=world.b).exists()


def test_nothing_shared_reaches_a_partner_of_another_couple(world):
    submit(world, partner=world.a, shared_with_partner=True)
    _, outsider, _ = couple_with_partners(world.couple.primary_clinician)
    assert not selectors.shared_checkins_from_other_partner(partner=outsider).exists()


def test_shareable_answers_never_include_the_safety_item(world):
    checkin = submit(world, partner=world.a, answers={**CALM, "felt_unsafe": True}, shared_with_partner=True)
    visible = selectors.shareable_answers(selectors.shared_checkins_from_other_partner(partner=world.b).get())
    assert "felt_unsafe" not in visible
    assert visible == {k: v for k, v in checkin.answers.items() if k != "felt_unsafe"}


def test_shareable_answers_never_include_private_items(world):
    submit(
        world,
        partner=world.a,
        instrument=world.instruments["csi-4"],
        answers={"csi1": 4, "csi12": 3, "csi19": 3, "csi22": 3},
        shared_with_partner=True,
    )
    shared = selectors.shared_checkins_from_other_partner(partner=world.b).get()
    assert selectors.shareable_answers(shared) == {}


def test_episodes_for_partner_exclude_the_other_partners_unshared_reports(world):
    now = timezone.now() - datetime.timedelta(hours=1)
    mine = services.episode_record(actor=world.b, couple=world.couple, occurred_at=now, intensity=4)
    theirs_private = services.episode_record(actor=world.a, couple=world.couple, occurred_at=now, intensity=5)
    theirs_shared = services.episode_record(
        actor=world.a, couple=world.couple, occurred_at=now, intensity=6, shared_with_partner=True
    )
    in_session = services.episode_record(
        actor=world.couple.primary_clinician.user, couple=world.couple, occurred_at=now, intensity=7
    )
    visible = set(selectors.episodes_for_partner(partner=world.b))
    assert visible == {mine, theirs_shared}
    assert theirs_private not in visible and in_session not in visible
    assert set(selectors.episodes_for_partner(partner=world.a)) == {theirs_private, theirs_shared}


def test_only_the_author_can_share_a_checkin(world):
    checkin = submit(world, partner=world.a)
    with pytest.raises(ValidationError) as excinfo:
        services.checkin_set_shared(partner=world.b, checkin=checkin, shared=True)
    assert "checkin" in excinfo.value.error_dict
    checkin.refresh_from_db()
    assert checkin.shared_with_partner is False
    services.checkin_set_shared(partner=world.a, checkin=checkin, shared=True)
    checkin.refresh_from_db()
    assert checkin.shared_with_partner is True
    assert list(selectors.shared_checkins_from_other_partner(partner=world.b)) == [checkin]


def test_answers_are_encrypted_at_rest(world):
    answers = {**CALM, "my_move": "away", "felt_unsafe": True}
    checkin = submit(world, answers=answers)
    stored = raw_column("cyclecare_checkin", "answers", checkin.pk)
    assert stored
    for fragment in ("felt_unsafe", "my_move", "away", "connection"):
        assert fragment not in stored
    assert CheckIn.objects.get(pk=checkin.pk).answers == answers
