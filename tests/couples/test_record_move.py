"""The clinical record moved from clinician to couples without touching the database
(DECISIONS 48): a database migrated before the move keeps its sessions, notes and addenda, and
the moved models read them from the same tables."""

import datetime
import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from clinician.audit import audit_record
from couples.models import Addendum, SessionNote, TherapySession
from cyclecare import fhir
from tests.factories import couple_with_partners, held_session

BEFORE = [
    ("clinician", "0006_fk_indexes_covered_by_composites"),
    ("couples", "0003_fk_indexes_covered_by_composites"),
    ("cyclecare", "0005_fk_indexes_covered_by_composites"),
]
MOVE = [
    ("couples", "0004_clinical_record"),
    ("cyclecare", "0006_episode_session_in_couples"),
    ("clinician", "0007_clinical_record_moved"),
]


@pytest.mark.django_db(transaction=True)
def test_the_move_writes_nothing_to_the_database():
    executor = MigrationExecutor(connection)
    for app, name in MOVE:
        plan = [(executor.loader.graph.nodes[(app, name)], False)]
        statements = [sql for sql in executor.loader.collect_sql(plan) if not sql.startswith("--")]
        assert statements == [], (app, name)


def test_the_moved_models_keep_their_tables():
    assert TherapySession._meta.db_table == "clinician_therapysession"
    assert TherapySession._meta.get_field("attendees").m2m_db_table() == "clinician_therapysession_attendees"
    assert SessionNote._meta.db_table == "clinician_sessionnote"
    assert Addendum._meta.db_table == "clinician_addendum"


@pytest.mark.django_db(transaction=True)
def test_rows_written_before_the_move_read_back_after_it():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Practice = old.get_model("clinician", "Practice")
    Clinician = old.get_model("clinician", "Clinician")
    Couple = old.get_model("couples", "Couple")
    OldSession = old.get_model("clinician", "TherapySession")
    OldNote = old.get_model("clinician", "SessionNote")
    User = old.get_model("auth", "User")
    practice = Practice.objects.create(name="Before the move", slug="before-move", time_zone="UTC")
    user = User.objects.create(username="before-move@example.org")
    clinician = Clinician.objects.create(user=user, practice=practice, role="clinician", credentials="LMFT")
    couple = Couple.objects.create(
        practice=practice, primary_clinician=clinician, label="Kept", started_on=datetime.date(2026, 1, 5)
    )
    session = OldSession.objects.create(
        practice=practice,
        couple=couple,
        clinician=clinician,
        starts_at=timezone.now() - datetime.timedelta(days=1),
        status="held",
    )
    OldNote.objects.create(practice=practice, session=session, author=clinician)

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

    moved = TherapySession.objects.get(pk=session.pk)
    assert moved.couple_id == couple.pk and moved.status == "held"
    assert moved.note.author_id == clinician.pk


@pytest.mark.django_db
def test_the_audit_trail_and_fhir_ids_keep_the_names_from_before_the_move():
    """The trail is append-only and integrations hold the FHIR ids: a moved model keeps its old
    label in both (clinician.audit.record_label), so a search or an id does not change."""
    session = held_session(couple_with_partners()[0])
    event = audit_record(actor=session.clinician.user, action="session.read", target=session)
    assert event.target_type == "clinician.therapysession"
    assert fhir._uuid(session) == uuid.uuid5(fhir.UUID_NAMESPACE, f"clinician.TherapySession:{session.pk}")
    assert fhir._identifier(session)[0]["system"] == "urn:cyclecare:clinician.therapysession"
