"""Separation: a couple's joint record closes and each continuing partner goes on alone.

Rules under test: each partner's own records (check-ins, self-reported episodes, individual
sessions with their notes, safety flags, homework for them alone) follow them into a new
individual case, and joint records stay with the closed couple; a partner who does not continue
leaves with their records kept; joint homework ends (no reminder goes out) and future joint
sessions are cancelled; neither partner's pages show anything of the other afterwards and old
links stop working; every step is audited; bad input and the wrong caller change nothing.
"""

import datetime
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from clinician import events
from clinician.models import AuditEvent, Clinician
from clinician.principals import PracticePrincipal
from couples import selectors as couple_selectors
from couples import services
from couples.models import Couple, Partner, SessionNote, TherapySession
from couples.selectors import notes_visible_to
from cyclecare import selectors as cycle_selectors
from cyclecare import separation
from cyclecare import services as cycle
from cyclecare.models import (
    Assignment,
    CheckIn,
    CycleEpisode,
    CycleMap,
    Instrument,
    Occurrence,
    PartnerLink,
    ReminderDelivery,
    SafetyFlag,
)
from cyclecare.partner_access import LinkState, partner_link_issue, partner_link_resolve
from cyclecare.reminders.dispatch import reminders_send
from cyclecare.reminders.planner import couples_on_hold
from tests.factories import (
    ClinicianFactory,
    ReminderDeliveryFactory,
    TherapySessionFactory,
    couple_with_partners,
    daily_checkin,
    held_session,
    shipped_instrument,
)

pytestmark = pytest.mark.django_db

TODAY = datetime.date.today


def _checkin(partner, instrument, *, shared: bool, occurrence=None, safety: bool = False):
    answers = {"cycle_showed_up": True, "connection": 6}
    if safety:
        answers["felt_unsafe"] = True
    return cycle.checkin_submit(
        partner=partner,
        instrument=instrument,
        answers=answers,
        occurrence=occurrence,
        shared_with_partner=shared,
    )


@pytest.fixture
def world():
    """A couple in treatment with a history of every kind, joint and individual."""
    supervisor = ClinicianFactory(role=Clinician.Role.SUPERVISOR)
    clinician = ClinicianFactory(practice=supervisor.practice, supervisor=supervisor)
    couple, a, b = couple_with_partners(clinician, label="Rivera & Chen", names=("Alex Rivera", "Bo Chen"))
    user = clinician.user
    instrument = shipped_instrument()
    for partner in (a, b):
        services.consent_record(actor=user, partner=partner, kind="email", granted=True, method="written")

    # Joint: a held session with a signed note, an episode seen in it, a cycle map, joint homework.
    joint_session = held_session(couple, days_ago=7)
    joint_note = services.note_create(user=user, session=joint_session, data="d", assessment="a", plan="p")
    services.note_sign(user=user, note=joint_note)
    joint_episode = cycle.episode_record(
        actor=user,
        couple=couple,
        occurred_at=timezone.now() - datetime.timedelta(days=7),
        intensity=6,
        pursuer=a,
        withdrawer=b,
        session=joint_session,
    )
    cycle_map = cycle.cycle_map_save(
        user=user,
        couple=couple,
        positions=[{"partner": a, "move": "pursue"}, {"partner": b, "move": "withdraw"}],
    )
    joint_homework = daily_checkin(
        couple, [a, b], instrument=instrument, starts_on=timezone.localdate() - datetime.timedelta(days=3)
    )
    done, _ = cycle.occurrence_materialise(
        assignment=joint_homework,
        partner=a,
        local_due_date=timezone.localdate() - datetime.timedelta(days=1),
        local_due_time=datetime.time(20),
    )
    pending_b, _ = cycle.occurrence_materialise(
        assignment=joint_homework,
        partner=b,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(20),
    )
    joint_reminder = ReminderDeliveryFactory(
        occurrence=pending_b,
        partner=b,
        channel="email",
        next_attempt_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    future_joint = TherapySessionFactory(couple=couple, starts_at=timezone.now() + datetime.timedelta(days=3))

    # Alex's own: shared and safety check-ins, a shared self-report, an individual session with
    # a signed note and an episode seen in it, homework for Alex alone, a future session.
    a_checkin = _checkin(a, instrument, shared=True, occurrence=done)
    a_unsafe = _checkin(a, instrument, shared=False, safety=True)
    a_flag = a_unsafe.safety_flags.get()
    a_episode = cycle.episode_record(
        actor=a,
        couple=couple,
        occurred_at=timezone.now() - datetime.timedelta(days=2),
        intensity=7,
        pursuer=a,
        withdrawer=b,
        trigger="Dishes",
        shared_with_partner=True,
    )
    a_session = held_session(couple, days_ago=5, kind="individual", partner=a)
    a_session.attendees.set([a])
    a_note = services.note_create(user=user, session=a_session, data="d", assessment="a", plan="p")
    services.note_sign(user=user, note=a_note)
    a_session_episode = cycle.episode_record(
        actor=user,
        couple=couple,
        occurred_at=timezone.now() - datetime.timedelta(days=5),
        intensity=3,
        session=a_session,
    )
    a_homework = cycle.assignment_create(
        user=user,
        couple=couple,
        partners=[a],
        kind="practice",
        title="Name the first move",
        schedule="daily",
        local_time=datetime.time(9),
        starts_on=timezone.localdate() - datetime.timedelta(days=3),
    )
    a_occurrence, _ = cycle.occurrence_materialise(
        assignment=a_homework,
        partner=a,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(9),
    )
    a_reminder = ReminderDeliveryFactory(
        occurrence=a_occurrence,
        partner=a,
        channel="email",
        next_attempt_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    a_future = TherapySessionFactory(
        couple=couple, kind="individual", partner=a, starts_at=timezone.now() + datetime.timedelta(days=2)
    )

    # Bo's own: a shared check-in, a shared self-report, an individual session, a future one.
    b_checkin = _checkin(b, instrument, shared=True)
    b_episode = cycle.episode_record(
        actor=b,
        couple=couple,
        occurred_at=timezone.now() - datetime.timedelta(days=1),
        intensity=4,
        pursuer=a,
        withdrawer=b,
        shared_with_partner=True,
    )
    b_session = held_session(couple, days_ago=4, kind="individual", partner=b)
    b_session.attendees.set([b])
    b_future = TherapySessionFactory(
        couple=couple, kind="individual", partner=b, starts_at=timezone.now() + datetime.timedelta(days=4)
    )
    return SimpleNamespace(**locals())


def separate(world, continuing, **kwargs):
    kwargs.setdefault("separation_reason", Couple.SeparationReason.RELATIONSHIP_ENDED)
    return separation.couple_separate(user=world.user, couple=world.couple, continuing=continuing, **kwargs)


def couple_of(row) -> int:
    return type(row).objects.values_list("couple_id", flat=True).get(pk=row.pk)


def signed_in(partner) -> Client:
    client = Client()
    _, token = partner_link_issue(partner=partner, purpose="home")
    response = client.get(reverse("cyclecare:partner:home-link", args=[token]))
    assert response.status_code == 302
    return client


# RECORDS FOLLOW THE PARTNER
# ------------------------------------------------------------------------------
def test_both_continue_each_in_an_individual_case_with_their_own_records(world):
    result = separate(world, [world.a, world.b], separated_on=TODAY() - datetime.timedelta(days=1))
    couple = Couple.objects.get(pk=world.couple.pk)
    assert couple.status == Couple.Status.SEPARATED
    assert couple.separated_on == TODAY() - datetime.timedelta(days=1)
    assert couple.separation_reason == "relationship_ended"
    case_a, case_b = result.continuations
    for case, partner in ((case_a, world.a), (case_b, world.b)):
        case.refresh_from_db()
        partner.refresh_from_db()
        assert case.kind == Couple.Kind.INDIVIDUAL and case.status == Couple.Status.ACTIVE
        assert case.continued_from_id == couple.pk
        assert case.primary_clinician_id == couple.primary_clinician_id
        assert case.practice_id == couple.practice_id
        assert case.started_on == couple.separated_on
        assert case.label == partner.display_name
        assert partner.couple_id == case.pk and partner.is_active and partner.left_on is None
    # Alex's own records are in Alex's case …
    for row in (
        world.a_checkin,
        world.a_unsafe,
        world.a_episode,
        world.a_session,
        world.a_session_episode,
        world.a_flag,
        world.a_homework,
        world.a_reminder,
        world.a_future,
    ):
        assert couple_of(row) == case_a.pk, row
    # … and Bo's in Bo's.
    for row in (world.b_checkin, world.b_episode, world.b_session, world.b_future):
        assert couple_of(row) == case_b.pk, row
    assert Couple.objects.get(pk=couple.pk).partners.count() == 0


def test_joint_records_stay_with_the_closed_couple(world):
    separate(world, [world.a, world.b])
    for row in (world.joint_session, world.joint_episode, world.cycle_map, world.joint_homework):
        assert couple_of(row) == world.couple.pk, row
    assert SessionNote.objects.get(pk=world.joint_note.pk).session.couple_id == world.couple.pk
    assert CycleMap.objects.filter(couple=world.couple).count() == 1


def test_a_signed_individual_note_follows_its_session_unchanged(world):
    before = SessionNote.objects.values().get(pk=world.a_note.pk)
    result = separate(world, [world.a])
    after = SessionNote.objects.values().get(pk=world.a_note.pk)
    assert after == before  # not one column written: it is still signed, with the same digest
    assert (
        services.note_content_digest(SessionNote.objects.get(pk=world.a_note.pk))
        == (before["signed_content_sha256"])
    )
    # The treating clinician reads it in Alex's individual case.
    note = SessionNote.objects.select_related("session").get(pk=world.a_note.pk)
    assert note.session.couple_id == result.continuations[0].pk
    readable = notes_visible_to(user=world.user).filter(session__couple=result.continuations[0])
    assert list(readable.values_list("pk", flat=True)) == [world.a_note.pk]


def test_only_one_continues_and_the_other_leaves_with_records_kept(world):
    result = separate(world, [world.a], separated_on=TODAY())
    [case_a] = result.continuations
    world.b.refresh_from_db()
    assert not world.b.is_active and world.b.left_on == TODAY()
    assert world.b.couple_id == world.couple.pk
    # Bo's records stay with the closed couple, under Bo.
    for row in (world.b_checkin, world.b_episode, world.b_session):
        assert couple_of(row) == world.couple.pk
    assert CheckIn.objects.get(pk=world.b_checkin.pk).partner_id == world.b.pk
    # Bo's future individual session is cancelled with the joint one; Alex's moved, still booked.
    assert TherapySession.objects.get(pk=world.b_future.pk).status == TherapySession.Status.CANCELLED
    assert TherapySession.objects.get(pk=world.a_future.pk).status == TherapySession.Status.SCHEDULED
    assert couple_of(world.a_future) == case_a.pk


def test_neither_continues_and_the_case_closes(world):
    result = separate(world, [], separation_reason=Couple.SeparationReason.SAFETY)
    assert result.continuations == []
    assert not Couple.objects.filter(continued_from=world.couple).exists()
    assert set(Partner.objects.filter(couple=world.couple).values_list("is_active", flat=True)) == {False}
    assert couple_of(world.a_checkin) == world.couple.pk
    assert Assignment.objects.get(pk=world.a_homework.pk).status == Assignment.Status.ENDED


def test_safety_flag_moves_with_the_partner_who_raised_it_and_holds_their_reminders(world):
    result = separate(world, [world.a, world.b])
    case_a, case_b = result.continuations
    flag = SafetyFlag.objects.get(pk=world.a_flag.pk)
    assert flag.couple_id == case_a.pk and flag.status == SafetyFlag.Status.OPEN
    assert couples_on_hold({case_a.pk, case_b.pk}) == {case_a.pk}
    # The treating clinician still sees it, now on Alex's case.
    flags = cycle_selectors.safety_flags_visible_to(user=world.user)
    assert flags.get(pk=flag.pk).couple_id == case_a.pk


# JOINT WORK STOPS
# ------------------------------------------------------------------------------
def test_joint_homework_ends_and_its_pending_reminders_are_not_sent(world):
    separate(world, [world.a, world.b])
    world.a_flag.refresh_from_db()
    cycle.safety_flag_resolve(user=world.user, flag=world.a_flag, resolution_note="Safety plan made.")
    assert Assignment.objects.get(pk=world.joint_homework.pk).status == Assignment.Status.ENDED
    assert Occurrence.objects.get(pk=world.pending_b.pk).status == Occurrence.Status.CANCELLED
    assert Occurrence.objects.get(pk=world.done.pk).status == Occurrence.Status.COMPLETED
    # Alex's own homework moved and keeps running.
    assert Assignment.objects.get(pk=world.a_homework.pk).status == Assignment.Status.ACTIVE
    mail.outbox.clear()
    reminders_send(delivery_ids=[world.joint_reminder.pk, world.a_reminder.pk])
    joint = ReminderDelivery.objects.get(pk=world.joint_reminder.pk)
    own = ReminderDelivery.objects.get(pk=world.a_reminder.pk)
    assert joint.status == ReminderDelivery.Status.CANCELLED
    assert own.status == ReminderDelivery.Status.SENT
    assert [message.to for message in mail.outbox] == [[world.a.email]]


def test_future_joint_sessions_are_cancelled_and_past_ones_kept(world):
    separate(world, [world.a, world.b])
    assert TherapySession.objects.get(pk=world.future_joint.pk).status == TherapySession.Status.CANCELLED
    assert TherapySession.objects.get(pk=world.joint_session.pk).status == TherapySession.Status.HELD
    assert AuditEvent.objects.filter(
        action="session.cancelled", target_id=str(world.future_joint.pk)
    ).exists()


def test_the_closed_couple_takes_no_new_joint_work(world):
    separate(world, [world.a])
    couple = Couple.objects.get(pk=world.couple.pk)
    with pytest.raises(ValidationError) as scheduled:
        services.session_schedule(
            user=world.user, couple=couple, starts_at=timezone.now() + datetime.timedelta(days=1)
        )
    assert "couple" in scheduled.value.error_dict
    with pytest.raises(ValidationError):
        cycle.assignment_create(
            user=world.user,
            couple=couple,
            partners=[Partner.objects.get(pk=world.b.pk)],
            kind="practice",
            title="x",
            schedule="daily",
            local_time=datetime.time(9),
            starts_on=TODAY(),
        )
    with pytest.raises(ValidationError) as added:
        services.partner_add(
            user=world.user, couple=couple, display_name="New", time_zone="UTC", email="n@x.test"
        )
    assert "couple" in added.value.error_dict
    with pytest.raises(ValidationError) as status:
        services.couple_set_status(user=world.user, couple=couple, status="active")
    assert "status" in status.value.error_dict
    assert Couple.objects.get(pk=couple.pk).status == Couple.Status.SEPARATED


def test_an_individual_case_keeps_one_partner(world):
    [case] = separate(world, [world.a]).continuations
    with pytest.raises(ValidationError) as excinfo:
        services.partner_add(
            user=world.user, couple=case, display_name="New", time_zone="UTC", email="n@x.test"
        )
    assert excinfo.value.error_dict["couple"][0].code == "individual_case"
    with pytest.raises(ValidationError):
        separation.couple_separate(
            user=world.user, couple=case, continuing=[world.a], separation_reason="other"
        )


# CROSS-ACCESS ENDS
# ------------------------------------------------------------------------------
def test_before_separation_each_partner_sees_what_the_other_shared(world):
    """The control for the test below: the shared items are there to disappear."""
    body = signed_in(world.b).get(reverse("cyclecare:partner:home")).content.decode()
    assert "Shared with you by your partner" in body and "Dishes" in body


def test_after_separation_neither_partner_sees_anything_of_the_other(world):
    separate(world, [world.a, world.b])
    for partner, other in ((world.a, world.b), (world.b, world.a)):
        partner.refresh_from_db()
        assert list(cycle_selectors.shared_checkins_from_other_partner(partner=partner)) == []
        assert all(
            e.reported_by_id == partner.pk for e in cycle_selectors.episodes_for_partner(partner=partner)
        )
        assert couple_selectors.partner_other(partner=partner) is None
        response = signed_in(partner).get(reverse("cyclecare:partner:home"))
        body = response.content.decode()
        assert response.status_code == 200
        assert "Shared with you by your partner" not in body
        assert other.display_name not in body
    # Each still has their own history.
    a_home = signed_in(world.a).get(reverse("cyclecare:partner:home")).content.decode()
    assert "Dishes" in a_home


def test_old_links_stop_working(world):
    _, a_home = partner_link_issue(partner=world.a, purpose="home")
    _, b_home = partner_link_issue(partner=world.b, purpose="home")
    _, b_checkin = partner_link_issue(partner=world.b, purpose="check_in", occurrence=world.pending_b)
    separate(world, [world.a])
    assert partner_link_resolve(token=a_home).state == LinkState.EXPIRED
    assert partner_link_resolve(token=b_home).state == LinkState.INVALID
    assert partner_link_resolve(token=b_checkin).state == LinkState.INVALID
    assert Client().get(reverse("cyclecare:partner:home-link", args=[a_home])).status_code == 410
    assert Client().get(reverse("cyclecare:partner:home-link", args=[b_home])).status_code == 404
    # A new link for the continuing partner works.
    _, fresh = partner_link_issue(partner=Partner.objects.get(pk=world.a.pk), purpose="home")
    assert partner_link_resolve(token=fresh).state == LinkState.VALID


def test_a_leaving_partners_open_session_ends(world):
    browser = signed_in(world.b)
    separate(world, [world.a])
    response = browser.get(reverse("cyclecare:partner:home"))
    assert response.status_code == 403 and world.b.display_name not in response.content.decode()


def test_an_inactive_partners_shared_episodes_leave_the_others_page():
    couple, a, b = couple_with_partners()
    shared = cycle.episode_record(
        actor=b, couple=couple, occurred_at=timezone.now(), intensity=3, shared_with_partner=True
    )
    assert shared in cycle_selectors.episodes_for_partner(partner=a)
    services.partner_deactivate(user=couple.primary_clinician.user, partner=b)
    assert shared not in cycle_selectors.episodes_for_partner(partner=a)


# SCOPE: THE SAME CLINICIAN, NOBODY ELSE
# ------------------------------------------------------------------------------
def test_the_treating_clinician_and_supervisor_see_both_records_and_a_colleague_neither(world):
    result = separate(world, [world.a, world.b])
    ids = {world.couple.pk, *(case.pk for case in result.continuations)}
    for user in (world.user, world.supervisor.user):
        assert ids <= {c.pk for c in couple_selectors.couples_visible_to(user=user)}
        assert world.a_checkin.pk in {c.pk for c in cycle_selectors.checkins_visible_to(user=user)}
    colleague = ClinicianFactory(practice=world.couple.practice)
    assert not couple_selectors.couples_visible_to(user=colleague.user).filter(pk__in=ids).exists()


def test_the_supervisor_may_separate(world):
    result = separation.couple_separate(
        user=world.supervisor.user, couple=world.couple, continuing=[world.a], separation_reason="other"
    )
    assert result.couple.status == Couple.Status.SEPARATED


# AUDIT AND EVENTS
# ------------------------------------------------------------------------------
def test_every_step_is_audited_by_id_and_field_name(world):
    a_link, _ = partner_link_issue(partner=world.a, purpose="home")
    b_link, _ = partner_link_issue(partner=world.b, purpose="home")
    before = AuditEvent.objects.count()
    result = separate(world, [world.a])
    [case] = result.continuations
    written = list(AuditEvent.objects.order_by("id")[before:])
    actions = {(e.action, e.target_type, e.target_id) for e in written}
    expected = {
        ("couple.separate", "couples.couple", str(world.couple.pk)),
        ("couple.continue", "couples.couple", str(case.pk)),
        ("partner.move", "couples.partner", str(world.a.pk)),
        ("partner.deactivate", "couples.partner", str(world.b.pk)),
        ("checkin.move", "cyclecare.checkin", str(world.a_checkin.pk)),
        ("checkin.move", "cyclecare.checkin", str(world.a_unsafe.pk)),
        ("episode.move", "cyclecare.cycleepisode", str(world.a_episode.pk)),
        ("episode.move", "cyclecare.cycleepisode", str(world.a_session_episode.pk)),
        ("session.move", "clinician.therapysession", str(world.a_session.pk)),
        ("session.move", "clinician.therapysession", str(world.a_future.pk)),
        ("safetyflag.move", "cyclecare.safetyflag", str(world.a_flag.pk)),
        ("assignment.move", "cyclecare.assignment", str(world.a_homework.pk)),
        ("reminder.move", "cyclecare.reminderdelivery", str(world.a_reminder.pk)),
        ("assignment.ended", "cyclecare.assignment", str(world.joint_homework.pk)),
        ("session.cancelled", "clinician.therapysession", str(world.future_joint.pk)),
        ("session.cancelled", "clinician.therapysession", str(world.b_future.pk)),
        ("partnerlink.expire", "cyclecare.partnerlink", str(a_link.pk)),
        ("partnerlink.expire", "cyclecare.partnerlink", str(b_link.pk)),
    }
    assert expected <= actions, expected - actions
    # Nothing moved that is not audited, and nothing audited twice.
    assert len(actions) == len(written)
    separate_event = next(e for e in written if e.action == "couple.separate")
    assert separate_event.changes == ["separated_on", "separation_reason", "status"]
    for event in written:
        assert event.actor_kind == AuditEvent.ActorKind.USER and event.actor_id == str(world.user.pk)
        assert event.practice_id == world.couple.practice_id
        # Field names only: no value (a name, a date, a reason) is stored.
        assert all(name.isidentifier() for name in event.changes)


def test_domain_events_carry_ids_and_codes(world):
    seen = []

    def handler(event, *, practice_id, data, writes):
        seen.append((event, data))

    events.subscribe(handler)
    try:
        result = separate(world, [world.a, world.b], separated_on=TODAY())
    finally:
        events.unsubscribe(handler)
    separated = [data for event, data in seen if event == "couple.separated"]
    continued = [data for event, data in seen if event == "couple.continued"]
    assert separated == [
        {
            "couple_id": world.couple.pk,
            "separated_on": str(TODAY()),
            "separation_reason": "relationship_ended",
            "continuing_partners": 2,
        }
    ]
    assert {d["couple_id"] for d in continued} == {c.pk for c in result.continuations}
    assert {d["partner_id"] for d in continued} == {world.a.pk, world.b.pk}


# REFUSALS CHANGE NOTHING
# ------------------------------------------------------------------------------
def _snapshot(world) -> tuple:
    return (
        list(Couple.objects.order_by("pk").values()),
        list(Partner.objects.order_by("pk").values("pk", "couple_id", "is_active", "left_on")),
        list(CheckIn.objects.order_by("pk").values_list("pk", "couple_id")),
        list(CycleEpisode.objects.order_by("pk").values_list("pk", "couple_id")),
        list(TherapySession.objects.order_by("pk").values_list("pk", "couple_id", "status")),
        list(Assignment.objects.order_by("pk").values_list("pk", "couple_id", "status")),
        list(PartnerLink.objects.order_by("pk").values_list("pk", "expires_at")),
        AuditEvent.objects.count(),
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"separation_reason": "we fought"}, "separation_reason"),
        ({"separated_on": datetime.date.today() + datetime.timedelta(days=1)}, "separated_on"),
        ({"separated_on": datetime.date(2000, 1, 1)}, "separated_on"),
    ],
)
def test_bad_input_is_refused_by_field_and_changes_nothing(world, change, field):
    partner_link_issue(partner=world.a, purpose="home")
    before = _snapshot(world)
    with pytest.raises(ValidationError) as excinfo:
        separate(world, [world.a], **change)
    assert field in excinfo.value.error_dict
    assert _snapshot(world) == before


def test_a_partner_of_another_couple_is_refused(world):
    _, stranger, _ = couple_with_partners(world.clinician)
    before = _snapshot(world)
    with pytest.raises(ValidationError) as excinfo:
        separate(world, [world.a, stranger])
    assert "continuing" in excinfo.value.error_dict
    assert _snapshot(world) == before


def test_an_inactive_partner_cannot_continue(world):
    services.partner_deactivate(user=world.user, partner=world.b)
    with pytest.raises(ValidationError) as excinfo:
        separate(world, [Partner.objects.get(pk=world.b.pk)])
    assert "continuing" in excinfo.value.error_dict


def test_separating_twice_is_refused(world):
    separate(world, [world.a])
    before = _snapshot(world)
    with pytest.raises(ValidationError) as excinfo:
        separate(world, [])
    assert excinfo.value.error_dict["status"][0].code == "already_separated"
    assert _snapshot(world) == before


def test_a_discharged_couple_is_refused(world):
    services.couple_set_status(user=world.user, couple=world.couple, status="discharged")
    with pytest.raises(ValidationError) as excinfo:
        separate(world, [world.a])
    assert excinfo.value.error_dict["status"][0].code == "discharged"


def test_a_past_session_without_an_outcome_must_be_recorded_first(world):
    TherapySessionFactory(couple=world.couple, starts_at=timezone.now() - datetime.timedelta(hours=2))
    before = _snapshot(world)
    with pytest.raises(ValidationError) as excinfo:
        separate(world, [world.a, world.b])
    assert excinfo.value.error_dict["couple"][0].code == "unrecorded_sessions"
    assert _snapshot(world) == before


def test_a_continuing_partners_own_unrecorded_session_moves_with_them(world):
    own = TherapySessionFactory(
        couple=world.couple,
        kind="individual",
        partner=world.a,
        starts_at=timezone.now() - datetime.timedelta(hours=2),
    )
    [case] = separate(world, [world.a]).continuations
    assert couple_of(own) == case.pk


@pytest.mark.parametrize("who", ["colleague", "admin", "stranger", "integration"])
def test_only_the_treating_clinician_or_supervisor_may_separate(world, who):
    practice = world.couple.practice
    user = {
        "colleague": lambda: ClinicianFactory(practice=practice).user,
        "admin": lambda: ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN).user,
        "stranger": lambda: ClinicianFactory().user,
        "integration": lambda: PracticePrincipal(
            practice_id=practice.pk, client_id=1, scopes=frozenset({"write"})
        ),
    }[who]()
    before = _snapshot(world)
    with pytest.raises(ValidationError):
        separation.couple_separate(
            user=user, couple=world.couple, continuing=[world.a], separation_reason="other"
        )
    assert _snapshot(world) == before


def test_couple_set_status_cannot_separate(world):
    with pytest.raises(ValidationError) as excinfo:
        services.couple_set_status(user=world.user, couple=world.couple, status="separated")
    assert "status" in excinfo.value.error_dict
    assert Couple.objects.get(pk=world.couple.pk).status == Couple.Status.ACTIVE


def test_a_continuing_partner_is_not_offered_sharing_with_nobody(world):
    before = signed_in(world.a).get(reverse("cyclecare:partner:home")).content.decode()
    assert "Stop sharing" in before
    separate(world, [world.a])
    browser = signed_in(Partner.objects.get(pk=world.a.pk))
    body = browser.get(reverse("cyclecare:partner:home")).content.decode()
    assert "Share with my partner" not in body and "Stop sharing" not in body
    response = browser.post(
        reverse("cyclecare:partner:checkin-share", args=[world.a_checkin.pk]), {"shared": "0"}
    )
    assert response.status_code == 404
    assert CheckIn.objects.get(pk=world.a_checkin.pk).shared_with_partner


def test_an_individual_cases_check_in_and_episode_pages_offer_no_sharing(world):
    """Nobody to share with: no share control on either page, and a share sent anyway (an old
    form, a crafted POST) is saved private."""
    import re
    import zoneinfo

    separate(world, [world.a])
    alex = Partner.objects.get(pk=world.a.pk)
    individual = alex.couple
    instrument = Instrument.objects.get(practice=None, code="cycle-checkin")
    homework = cycle.assignment_create(
        user=world.user,
        couple=individual,
        partners=[alex],
        kind="check_in",
        title="Daily check-in",
        schedule="daily",
        local_time=datetime.time(21),
        starts_on=timezone.localdate(),
        instrument=instrument,
    )
    occurrence, _ = cycle.occurrence_materialise(
        assignment=homework,
        partner=alex,
        local_due_date=timezone.localdate(),
        local_due_time=datetime.time(21),
    )
    _, token = partner_link_issue(partner=alex, purpose="check_in", occurrence=occurrence)
    browser = Client()
    url = reverse("cyclecare:partner:checkin", args=[token])
    page = browser.get(url).content.decode()
    assert 'name="share"' not in page and "private to you and your clinician" in page
    answers = {
        "instrument": f"{instrument.pk}:{instrument.version}",
        "cycle_showed_up": "yes",
        "my_move": "toward",
        "connection": "7",
        "share": "on",
    }
    assert browser.post(url, answers).status_code == 302
    assert not CheckIn.objects.get(occurrence=occurrence).shared_with_partner

    page = browser.get(reverse("cyclecare:partner:episode")).content.decode()
    assert 'name="shared_with_partner"' not in page and "unless you share" not in page
    nonce = re.search(r'name="form_nonce" value="([^"]+)"', page)[1]
    episode = {
        "form_nonce": nonce,
        "occurred_at": timezone.localtime(
            timezone.now() - datetime.timedelta(hours=2), zoneinfo.ZoneInfo(alex.time_zone)
        ).strftime("%Y-%m-%dT%H:%M"),
        "intensity": "4",
        "role": "unsure",
        "shared_with_partner": "on",
    }
    assert browser.post(reverse("cyclecare:partner:episode"), episode).status_code == 302
    recorded = CycleEpisode.objects.filter(couple=individual, reported_by=alex).latest("created_at")
    assert recorded.intensity == 4 and not recorded.shared_with_partner


# THE API
# ------------------------------------------------------------------------------
def test_the_api_shows_the_separation_and_refuses_it_as_a_plain_status(world):
    from rest_framework.test import APIClient

    result = separate(world, [world.a])
    api = APIClient()
    api.force_authenticate(user=world.user)
    closed = api.get(f"/api/v1/couples/{world.couple.pk}/").json()
    assert closed["status"] == "separated" and closed["kind"] == "couple"
    assert closed["separated_on"] == str(TODAY()) and closed["separation_reason"] == "relationship_ended"
    assert closed["active_partners"] == []
    case = api.get(f"/api/v1/couples/{result.continuations[0].pk}/").json()
    assert case["kind"] == "individual" and case["continued_from"] == world.couple.pk
    assert case["active_partners"] == [world.a.pk]
    refused = api.post(f"/api/v1/couples/{case['id']}/status/", {"status": "separated"}, format="json")
    assert refused.status_code == 400
    assert Couple.objects.get(pk=case["id"]).status == Couple.Status.ACTIVE
