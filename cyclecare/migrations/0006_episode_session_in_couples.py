"""An episode's session is now couples.TherapySession (DECISIONS 48): state only, the column and
its foreign key to clinician_therapysession stay."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("couples", "0004_clinical_record"),
        ("cyclecare", "0005_fk_indexes_covered_by_composites"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables, indexes and constraints exist already (clinician 0001–0006).
            database_operations=[],
            state_operations=[
                migrations.AlterField(
                    model_name="cycleepisode",
                    name="session",
                    field=models.ForeignKey(
                        blank=True,
                        help_text="The session the episode was seen in.",
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="episodes",
                        to="couples.therapysession",
                    ),
                ),
            ],
        ),
    ]
