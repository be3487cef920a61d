"""Every selector, every role: nothing of practice B reaches anyone in practice A, and inside a
practice each role sees only its scope. Selectors are found by introspection, so a new selector
is covered (or fails this suite until it is taught how to be called)."""

import inspect

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from clinician import selectors as clinician_selectors
from clinician.models import Clinician
from couples import selectors as couples_selectors
from couples.models import Addendum, Consent, Couple, Partner, SessionNote, TherapySession
from cyclecare import selectors as cycle_selectors
from cyclecare.models import Assignment, CheckIn, CycleEpisode, CycleMap, Occurrence, SafetyFlag
from cyclecare.reminders import selectors as reminder_selectors
from tests.factories import UserFactory

MODULES = (clinician_selectors, couples_selectors, cycle_selectors, reminder_selectors)
# Partner-facing selectors take a Partner, not a user; tested in test_partner_scope below.
PARTNER_SELECTORS = {
    "checkins_for_partner",
    "shared_checkins_from_other_partner",
    "shareable_answers",
    "episodes_for_partner",
    "occurrences_for_partner",
    "consent_in_force",
    "partner_other",
    "partners_reachable",
}
HELPERS = {"get_or_404"}
# The id argument of each *_get_for selector → the model whose rows it reads.
ID_ARGUMENTS = {
    "clinician_id": Clinician,
    "session_id": TherapySession,
    "note_id": SessionNote,
    "couple_id": Couple,
    "partner_id": Partner,
    "episode_id": CycleEpisode,
    "checkin_id": CheckIn,
    "flag_id": SafetyFlag,
}
PHI_MODELS = (
    TherapySession,
    SessionNote,
    Addendum,
    Couple,
    Partner,
    Consent,
    CycleMap,
    CycleEpisode,
    Assignment,
    Occurrence,
    CheckIn,
    SafetyFlag,
)


def user_selectors():
    for module in MODULES:
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or name.startswith("_"):
                continue
            if name in PARTNER_SELECTORS or name in HELPERS:
                continue
            yield name, function


def practice_of(row) -> int | None:
    """The practice a row belongs to (None: shipped with cyclecare, every practice's)."""
    if hasattr(row, "practice_id"):
        return row.practice_id
    return row.pk  # Practice itself


def call_list_selector(function, user):
    result = function(user=user)
    return list(result) if hasattr(result, "__iter__") else [result]


def test_every_selector_is_known():
    """Adding a selector whose shape this test cannot call fails here, not silently."""
    for name, function in user_selectors():
        parameters = inspect.signature(function).parameters
        assert "user" in parameters, f"{name} must take the asking user"
        ids = [p for p in parameters if p.endswith("_id")]
        if name.endswith("_get_for") and name != "practice_get_for":
            assert ids and ids[0] in ID_ARGUMENTS, f"teach test_tenancy how to call {name}"


def everyone(world):
    return [world.admin, world.supervisor, world.clinician, world.prelicensed, world.outsider]


def test_no_selector_crosses_practices(tenants):
    a, b = tenants["a"], tenants["b"]
    for clinician in everyone(a):
        user = clinician.user
        for name, function in user_selectors():
            parameters = inspect.signature(function).parameters
            ids = [p for p in parameters if p.endswith("_id")]
            if not ids:
                rows = call_list_selector(function, user)
                if clinician == a.supervisor:
                    assert [r for r in rows if r is not None], f"{name} shows the supervisor nothing"
                for row in rows:
                    if row is None:
                        continue
                    assert practice_of(row) in (a.practice.pk, None), (
                        f"{name} leaked practice B to {clinician}"
                    )
                continue
            model = ID_ARGUMENTS[ids[0]]
            foreign_ids = foreign_rows(b, model)
            assert foreign_ids, f"practice B has no {model.__name__} to probe {name} with"
            for foreign_id in foreign_ids:
                with pytest.raises(Http404):
                    function(user=user, **{ids[0]: foreign_id})


def foreign_rows(world, model) -> list[int]:
    if model is Clinician:
        return [world.clinician.pk, world.admin.pk]
    rows = []
    for case in world.couples:
        rows += {
            TherapySession: [case.session.pk],
            SessionNote: [case.note.pk],
            Couple: [case.couple.pk],
            Partner: [case.a.pk, case.b.pk],
            CycleEpisode: [case.episode.pk],
            CheckIn: [case.checkin.pk],
            SafetyFlag: [case.flag.pk],
        }[model]
    return rows


def test_anonymous_and_non_clinician_users_see_nothing(tenants):
    for user in (AnonymousUser(), UserFactory()):
        for name, function in user_selectors():
            parameters = inspect.signature(function).parameters
            ids = [p for p in parameters if p.endswith("_id")]
            if name == "practice_get_for" or ids:
                continue
            assert call_list_selector(function, user) in ([], [None]), name
        with pytest.raises(Http404):
            clinician_selectors.practice_get_for(user=user)


def test_inactive_clinician_sees_nothing(tenants):
    a = tenants["a"]
    Clinician.objects.filter(pk=a.clinician.pk).update(is_active=False)
    user = type(a.clinician.user).objects.get(pk=a.clinician.user.pk)
    assert list(couples_selectors.couples_visible_to(user=user)) == []


@pytest.mark.parametrize(
    ("role", "clinical_couples", "administrative_couples"),
    [
        ("clinician", {0}, {0}),
        ("prelicensed", {1}, {1}),
        ("supervisor", {0, 1}, {0, 1}),
        ("admin", set(), {0, 1}),
        ("outsider", set(), set()),
    ],
)
def test_scope_inside_a_practice(tenants, role, clinical_couples, administrative_couples):
    world = tenants["a"]
    user = getattr(world, role).user
    expect = lambda indexes: {world.couples[i].couple.pk for i in indexes}  # noqa: E731
    assert {c.pk for c in couples_selectors.couples_visible_to(user=user)} == expect(clinical_couples)
    administrative = couples_selectors.couples_visible_to(user=user, purpose="administrative")
    assert {c.pk for c in administrative} == expect(administrative_couples)
    # Note bodies, answers and safety flags are clinical, whatever the role.
    assert {n.session.couple_id for n in couples_selectors.notes_visible_to(user=user)} == expect(
        clinical_couples
    )
    assert {c.couple_id for c in cycle_selectors.checkins_visible_to(user=user)} == expect(clinical_couples)
    assert {f.couple_id for f in cycle_selectors.safety_flags_visible_to(user=user)} == expect(
        clinical_couples
    )


def test_admin_cannot_open_a_note_they_do_not_treat(tenants):
    world = tenants["a"]
    with pytest.raises(Http404):
        couples_selectors.note_get_for(user=world.admin.user, note_id=world.couples[0].note.pk)


def test_partner_scope_is_their_own(tenants):
    case = tenants["a"].couples[0]
    other_case = tenants["b"].couples[0]
    own = set(cycle_selectors.checkins_for_partner(partner=case.a))
    assert case.checkin in own and all(checkin.partner_id == case.a.pk for checkin in own)
    assert list(cycle_selectors.checkins_for_partner(partner=case.b)) == []
    assert list(cycle_selectors.occurrences_for_partner(partner=case.b)) == []
    assert other_case.checkin not in cycle_selectors.checkins_for_partner(partner=case.a)
    # The clinician-recorded episode is not a partner's record.
    assert list(cycle_selectors.episodes_for_partner(partner=case.a)) == []


def test_every_phi_model_has_a_probe():
    """A new PHI model must be added to the world builder and the probes above."""
    covered = {TherapySession, SessionNote, Couple, Partner, CycleEpisode, CheckIn, SafetyFlag}
    listed = {CycleMap, Assignment, Occurrence, Consent, Addendum}
    assert set(PHI_MODELS) == covered | listed


@pytest.fixture
def tenants(db):
    """Both practices with rows of every model, practice-level ones included (webhooks, a
    licensed instrument, homework templates, reminders), so every selector has rows to leak."""
    from tests.factories import build_practice_world

    return {
        "a": build_practice_world("alpha", practice_rows=True),
        "b": build_practice_world("bravo", practice_rows=True),
    }
