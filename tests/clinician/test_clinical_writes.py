"""One rule for every clinical write (clinician.permissions.require_treating_access): the treating
clinician or their supervisor; a practice admin only for a couple they treat themselves, as for
reading the clinical record. A refused write changes nothing."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from couples import selectors as couple_selectors
from couples import services as couple_services
from couples.models import Addendum
from cyclecare import services as cycle
from cyclecare.models import Assignment, CycleEpisode, CycleMap
from tests.factories import couple_with_partners

pytestmark = pytest.mark.django_db


def clinical_writes(world, couple):
    """Each clinical write on ``couple``, as (name, call(user), rows it would add or change)."""
    a, b = couple.a, couple.b
    return [
        (
            "cycle map",
            lambda user: cycle.cycle_map_save(
                user=user,
                couple=couple.couple,
                positions=[{"partner": b, "move": "pursue"}, {"partner": a, "move": "withdraw"}],
            ),
            lambda: CycleMap.objects.filter(couple=couple.couple).count(),
        ),
        (
            "episode",
            lambda user: cycle.episode_record(
                actor=user,
                couple=couple.couple,
                occurred_at=timezone.now(),
                intensity=4,
                pursuer=a,
                withdrawer=b,
            ),
            lambda: CycleEpisode.objects.filter(couple=couple.couple).count(),
        ),
        (
            "homework",
            lambda user: cycle.assignment_create(
                user=user,
                couple=couple.couple,
                partners=[a],
                kind="practice",
                title="Name the first move",
                schedule="daily",
                local_time=datetime.time(9),
                starts_on=timezone.localdate(),
            ),
            lambda: Assignment.objects.filter(couple=couple.couple).count(),
        ),
        (
            "homework status",
            lambda user: cycle.assignment_set_status(
                user=user, assignment=couple.assignment, status="paused"
            ),
            lambda: Assignment.objects.filter(couple=couple.couple, status="paused").count(),
        ),
        (
            "addendum",
            lambda user: couple_services.addendum_add(user=user, note=couple.note, body="seen later"),
            lambda: Addendum.objects.filter(note=couple.note).count(),
        ),
    ]


def test_a_practice_admin_who_does_not_treat_the_couple_writes_nothing_clinical(tenants):
    world = tenants["a"]
    couple = world.couples[0]
    # The admin reads nothing clinical of this couple...
    assert not couple_selectors.couples_visible_to(user=world.admin.user).filter(pk=couple.couple.pk).exists()
    # ...and so writes nothing clinical to it.
    for name, write, rows in clinical_writes(world, couple):
        before = rows()
        with pytest.raises(ValidationError) as refused:
            write(world.admin.user)
        field = "note" if name == "addendum" else "couple"  # the addendum names the note it adds to
        assert list(refused.value.message_dict) == [field], name
        assert rows() == before, name


def test_the_treating_clinician_and_supervisor_write_and_an_admin_for_their_own_couple(tenants):
    world = tenants["a"]
    for name, write, rows in clinical_writes(world, world.couples[0]):
        before = rows()
        write(world.supervisor.user if name == "homework status" else world.clinician.user)
        assert rows() > before, name
    own = couple_with_partners(world.admin)
    assert (
        cycle.episode_record(
            actor=world.admin.user,
            couple=own[0],
            occurred_at=timezone.now(),
            intensity=3,
            pursuer=own[1],
            withdrawer=own[2],
        ).recorded_by_clinician
        == world.admin
    )
