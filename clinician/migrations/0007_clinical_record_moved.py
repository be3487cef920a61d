"""The clinical record's models leave clinician's migration state (DECISIONS 48): couples 0004
took them over, and cyclecare 0006 re-pointed the one foreign key from another app. State only:
the tables stay, now owned by couples' models."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("clinician", "0006_fk_indexes_covered_by_composites"),
        ("couples", "0004_clinical_record"),
        ("cyclecare", "0006_episode_session_in_couples"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.DeleteModel(name="Addendum"),
                migrations.DeleteModel(name="NoteCoSignature"),
                migrations.DeleteModel(name="SessionNote"),
                migrations.DeleteModel(name="TherapySession"),
            ],
        ),
    ]
