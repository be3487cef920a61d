"""Test data in one place. Factories build rows directly; build_practice_world() uses the
services so the rows are the ones real use creates."""

import datetime
import secrets
from types import SimpleNamespace

import factory
from django.contrib.auth import get_user_model
from django.utils import timezone
from oauth2_provider.models import AccessToken, get_application_model
from rest_framework.test import APIClient

from clinician.models import Clinician, IntegrationClient, Practice
from couples.models import Couple, Partner, TherapySession
from cyclecare import services as cycle_services
from cyclecare.models import (
    Assignment,
    CycleEpisode,
    Instrument,
    Occurrence,
    ReminderDelivery,
    SafetyFlag,
)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}@example.test")
    email = factory.SelfAttribute("username")
    password = factory.django.Password("pw-for-tests-only")


class PracticeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Practice

    name = factory.Sequence(lambda n: f"Practice {n}")
    slug = factory.Sequence(lambda n: f"practice-{n}")
    time_zone = "America/Chicago"


class ClinicianFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Clinician

    user = factory.SubFactory(UserFactory)
    practice = factory.SubFactory(PracticeFactory)
    display_name = factory.Sequence(lambda n: f"Clinician {n}")
    role = Clinician.Role.CLINICIAN
    credentials = "LMFT"


class CoupleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Couple

    primary_clinician = factory.SubFactory(ClinicianFactory)
    practice = factory.SelfAttribute("primary_clinician.practice")
    label = factory.Sequence(lambda n: f"Couple {n}")
    started_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=60))
    eft_step = 3


class PartnerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Partner

    couple = factory.SubFactory(CoupleFactory)
    practice = factory.SelfAttribute("couple.practice")
    seat = 1
    display_name = factory.Sequence(lambda n: f"Partner {n}")
    email = factory.Sequence(lambda n: f"partner{n}@example.test")
    time_zone = "America/Chicago"


class TherapySessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = TherapySession

    couple = factory.SubFactory(CoupleFactory)
    practice = factory.SelfAttribute("couple.practice")
    clinician = factory.SelfAttribute("couple.primary_clinician")
    starts_at = factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=1))


class CycleEpisodeFactory(factory.django.DjangoModelFactory):
    """An episode as the clinician records it in session, at any time (the service refuses
    none of these fields, but tests need episodes dated in the past without its audit)."""

    class Meta:
        model = CycleEpisode

    couple = factory.SubFactory(CoupleFactory)
    practice = factory.SelfAttribute("couple.practice")
    occurred_at = factory.LazyFunction(timezone.now)
    source = CycleEpisode.Source.SESSION
    recorded_by_clinician = factory.SelfAttribute("couple.primary_clinician")
    intensity = 5


class AssignmentFactory(factory.django.DjangoModelFactory):
    """Daily practice homework set by the couple's clinician; ``partners=[...]`` sets who does it."""

    class Meta:
        model = Assignment
        skip_postgeneration_save = True

    couple = factory.SubFactory(CoupleFactory)
    practice = factory.SelfAttribute("couple.practice")
    assigned_by = factory.SelfAttribute("couple.primary_clinician")
    kind = Assignment.Kind.PRACTICE
    title = "Name the cycle"
    schedule = Assignment.Schedule.DAILY
    local_time = datetime.time(20)
    starts_on = factory.LazyFunction(lambda: timezone.localdate() - datetime.timedelta(days=90))

    @factory.post_generation
    def partners(self, create, extracted, **kwargs):
        if create and extracted:
            self.partners.set(extracted)


class OccurrenceFactory(factory.django.DjangoModelFactory):
    """One due instance, in any status and at any time (the planner only makes future pending
    ones); a completed one was completed when it was due."""

    class Meta:
        model = Occurrence

    assignment = factory.SubFactory(AssignmentFactory)
    practice = factory.SelfAttribute("assignment.practice")
    partner = factory.LazyAttribute(lambda o: o.assignment.couple.partners.first())
    due_at = factory.LazyFunction(timezone.now)
    local_due_date = factory.LazyAttribute(lambda o: o.due_at.date())
    local_due_time = factory.LazyAttribute(lambda o: o.due_at.timetz().replace(tzinfo=None))
    status = Occurrence.Status.PENDING
    completed_at = factory.LazyAttribute(
        lambda o: o.due_at if o.status == Occurrence.Status.COMPLETED else None
    )


class ReminderDeliveryFactory(factory.django.DjangoModelFactory):
    """A reminder row as the planner writes it (it bulk-creates them): for the occurrence's
    partner, by email, pending, first tried when the occurrence is due; pass ``status``,
    ``sent_at`` and the rest for a later state."""

    class Meta:
        model = ReminderDelivery

    occurrence = factory.SubFactory(OccurrenceFactory)
    practice = factory.SelfAttribute("occurrence.practice")
    couple = factory.LazyAttribute(lambda o: o.occurrence.assignment.couple)
    partner = factory.SelfAttribute("occurrence.partner")
    channel = ReminderDelivery.Channel.EMAIL
    next_attempt_at = factory.SelfAttribute("occurrence.due_at")


class SafetyFlagFactory(factory.django.DjangoModelFactory):
    """A flag raised by the clinician on the couple's first partner, in any status; an
    acknowledged or resolved one was acknowledged (and resolved) when it was raised."""

    class Meta:
        model = SafetyFlag

    couple = factory.SubFactory(CoupleFactory)
    practice = factory.SelfAttribute("couple.practice")
    partner = factory.LazyAttribute(lambda o: o.couple.partners.first())
    source = SafetyFlag.Source.CLINICIAN
    status = SafetyFlag.Status.OPEN
    raised_at = factory.LazyFunction(timezone.now)
    acknowledged_at = factory.LazyAttribute(
        lambda o: o.raised_at if o.status != SafetyFlag.Status.OPEN else None
    )
    resolved_at = factory.LazyAttribute(
        lambda o: o.raised_at if o.status == SafetyFlag.Status.RESOLVED else None
    )


def integration_client(practice: Practice, scopes: str = "read write", name: str = "Test integration"):
    """An integration client of ``practice`` with a live bearer token carrying ``scopes``: the
    OAuth2 application, the client row, the secret, the token and an APIClient sending it."""
    Application = get_application_model()
    secret = secrets.token_urlsafe(24)
    application = Application.objects.create(
        name=f"{practice.slug}: {name}",
        client_type=Application.CLIENT_CONFIDENTIAL,
        authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
        client_secret=secret,
    )
    client = IntegrationClient.objects.create(
        application=application, practice=practice, name=name, scopes=scopes
    )
    token = AccessToken.objects.create(
        application=application,
        token=secrets.token_urlsafe(30),
        scope=scopes,
        expires=timezone.now() + datetime.timedelta(hours=1),
    )
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {token.token}")
    return SimpleNamespace(client=client, application=application, secret=secret, token=token.token, api=api)


def couple_with_partners(
    clinician: Clinician | None = None, *, names: tuple[str, str] | None = None, **kwargs
) -> tuple[Couple, Partner, Partner]:
    """A couple of ``clinician`` (a new one by default) with partner A in Chicago and partner B
    in New York; ``names`` gives them display names."""
    couple = CoupleFactory(primary_clinician=clinician or ClinicianFactory(), **kwargs)
    named = [{"display_name": name} for name in names] if names else [{}, {}]
    a = PartnerFactory(couple=couple, seat=1, time_zone="America/Chicago", **named[0])
    b = PartnerFactory(couple=couple, seat=2, time_zone="America/New_York", **named[1])
    return couple, a, b


def practice_with_staff(slug: str, **practice_fields) -> SimpleNamespace:
    """A practice with a practice admin and a clinician."""
    practice = PracticeFactory(slug=slug, **practice_fields)
    return SimpleNamespace(
        practice=practice,
        admin=ClinicianFactory(practice=practice, role=Clinician.Role.PRACTICE_ADMIN),
        clinician=ClinicianFactory(practice=practice),
    )


def shipped_instruments() -> dict[str, Instrument]:
    """The instruments cyclecare ships, installed (again: it is idempotent), by code."""
    return {instrument.code: instrument for instrument in cycle_services.instruments_install_shipped()}


def shipped_instrument(code: str = "cycle-checkin") -> Instrument:
    """One shipped instrument, installed: by default the daily cycle check-in."""
    return shipped_instruments()[code]


def daily_checkin(
    couple: Couple,
    partners: list[Partner],
    *,
    instrument: Instrument | None = None,
    local_time: datetime.time = datetime.time(20),
    starts_on: datetime.date | None = None,
) -> Assignment:
    """The daily check-in, assigned through the service by the couple's clinician: at 20:00
    from today, on the shipped cycle check-in unless told otherwise."""
    return cycle_services.assignment_create(
        user=couple.primary_clinician.user,
        couple=couple,
        partners=partners,
        kind="check_in",
        title="Daily check-in",
        schedule="daily",
        local_time=local_time,
        starts_on=starts_on or timezone.localdate(),
        instrument=instrument or shipped_instrument(),
    )


def held_session(couple: Couple, *, days_ago: int = 1, **kwargs) -> TherapySession:
    session = TherapySessionFactory(
        couple=couple, starts_at=timezone.now() - datetime.timedelta(days=days_ago), status="held", **kwargs
    )
    session.attendees.set(couple.partners.filter(is_active=True))
    return session


# A licensed measure a practice loads as data (one 0–4 item, totalled).
LICENSED_DEFINITION = {
    "higher_is_better": True,
    "items": [{"code": "q1", "type": "likert", "min": 0, "max": 4, "text": {"en": "How are you?"}}],
    "total": {"items": ["q1"]},
}


def build_practice_world(name: str, *, practice_rows: bool = False) -> SimpleNamespace:
    """One practice with every role, one couple per treating clinician, and a row of every
    PHI model on each couple — built through the services.

    With ``practice_rows``, also the practice's rows that belong to no couple: a webhook
    endpoint (registered by the admin before the couples' history, so each signed note leaves a
    delivery) and a licensed instrument of the practice (answered twice by each couple's
    partner A, so outcome reports have a row); and on each couple a reminder for partner A's
    occurrence. Off by default: tests that count a practice's instruments, deliveries or
    reminders expect the plain world."""
    from couples import services as couple_services
    from couples.services import consent_record
    from cyclecare import services as cycle
    from cyclecare import webhooks

    practice = PracticeFactory(name=f"{name} practice", slug=name)
    admin = ClinicianFactory(
        practice=practice, role=Clinician.Role.PRACTICE_ADMIN, display_name=f"{name} admin"
    )
    supervisor = ClinicianFactory(
        practice=practice, role=Clinician.Role.SUPERVISOR, display_name=f"{name} sup"
    )
    clinician = ClinicianFactory(practice=practice, supervisor=supervisor, display_name=f"{name} clin")
    prelicensed = ClinicianFactory(
        practice=practice, supervisor=supervisor, is_prelicensed=True, display_name=f"{name} assoc"
    )
    outsider = ClinicianFactory(practice=practice, display_name=f"{name} colleague")
    instruments = {i.code: i for i in cycle.instruments_install_shipped()}
    world = SimpleNamespace(
        practice=practice,
        admin=admin,
        supervisor=supervisor,
        clinician=clinician,
        prelicensed=prelicensed,
        outsider=outsider,
        couples=[],
    )
    if practice_rows:
        cycle.homework_templates_install_shipped()
        world.own_homework_template = cycle.homework_template_create(
            user=clinician.user,
            code=f"{name}-homework",
            name=f"{name} practice homework",
            kind="practice",
            instructions="Notice the first move and name it.",
            schedule="daily",
            local_time=datetime.time(19, 0),
        )
        world.webhook_endpoint = webhooks.webhook_endpoint_create(
            user=admin.user,
            url=f"https://hooks.{name}.invalid/cyclecare",
            events=["note.signed"],
            description=f"{name} records system",
        )
        world.instrument = cycle.instrument_create(
            practice=practice,
            code=f"{name}-measure",
            name=f"{name} licensed measure",
            definition=LICENSED_DEFINITION,
            licence=f"Licensed to the {name} practice",
        )
    for treating in (clinician, prelicensed):
        couple, a, b = couple_with_partners(treating)
        user = treating.user
        session = held_session(couple)
        note = couple_services.note_create(user=user, session=session, data="d", assessment="a", plan="p")
        couple_services.note_sign(user=user, note=note)
        addendum = couple_services.addendum_add(user=user, note=note, body="later")
        cycle_map = cycle.cycle_map_save(
            user=user,
            couple=couple,
            positions=[{"partner": a, "move": "pursue"}, {"partner": b, "move": "withdraw"}],
        )
        episode = cycle.episode_record(
            actor=user, couple=couple, occurred_at=timezone.now(), intensity=5, pursuer=a, withdrawer=b
        )
        assignment = cycle.assignment_create(
            user=user,
            couple=couple,
            partners=[a, b],
            kind="check_in",
            title="Daily check-in",
            schedule="daily",
            local_time=datetime.time(20, 0),
            starts_on=timezone.localdate(),
            instrument=instruments["cycle-checkin"],
        )
        occurrence, _ = cycle.occurrence_materialise(
            assignment=assignment,
            partner=a,
            local_due_date=timezone.localdate(),
            local_due_time=datetime.time(20),
        )
        consent = consent_record(actor=user, partner=a, kind="treatment", granted=True, method="written")
        checkin = cycle.checkin_submit(
            partner=a,
            instrument=instruments["cycle-checkin"],
            occurrence=occurrence,
            answers={"cycle_showed_up": True, "connection": 6, "felt_unsafe": True},
        )
        world.couples.append(
            SimpleNamespace(
                couple=couple,
                a=a,
                b=b,
                session=session,
                note=note,
                episode=episode,
                assignment=assignment,
                occurrence=occurrence,
                checkin=checkin,
                flag=checkin.safety_flags.get(),
                addendum=addendum,
                cycle_map=cycle_map,
                consent=consent,
            )
        )
        if practice_rows:
            case = world.couples[-1]
            case.delivery = world.webhook_endpoint.deliveries.get(payload__data__note_id=note.pk)
            case.licensed_checkins = [
                cycle.checkin_submit(
                    partner=a,
                    instrument=world.instrument,
                    answers={"q1": score},
                    submitted_at=timezone.now() - datetime.timedelta(days=days_ago),
                )
                for score, days_ago in ((1, 14), (3, 1))
            ]
            case.reminder = ReminderDeliveryFactory(occurrence=occurrence, partner=a)
    return world
