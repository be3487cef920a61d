"""The couple's clinical record moves here from clinician (DECISIONS 48): TherapySession,
SessionNote, NoteCoSignature and Addendum become couples' models in the migration state while
their tables (db_table kept: clinician_therapysession, …, and the attendees M2M table), rows,
indexes, constraints and the PostgreSQL write guards of clinician 0003 stay as they are.
Nothing is written to the database."""

import clinician.fields
import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clinician", "0006_fk_indexes_covered_by_composites"),
        ("couples", "0003_fk_indexes_covered_by_composites"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            # State only: the tables, indexes and constraints exist already (clinician 0001–0006).
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="SessionNote",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "format",
                            models.CharField(
                                choices=[("dap", "DAP"), ("soap", "SOAP"), ("birp", "BIRP")],
                                default="dap",
                                max_length=4,
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[("draft", "Draft"), ("signed", "Signed")],
                                default="draft",
                                max_length=8,
                            ),
                        ),
                        ("data", clinician.fields.EncryptedText(blank=True)),
                        ("subjective", clinician.fields.EncryptedText(blank=True)),
                        ("objective", clinician.fields.EncryptedText(blank=True)),
                        ("behavior", clinician.fields.EncryptedText(blank=True)),
                        ("intervention", clinician.fields.EncryptedText(blank=True)),
                        ("response", clinician.fields.EncryptedText(blank=True)),
                        ("assessment", clinician.fields.EncryptedText(blank=True)),
                        ("plan", clinician.fields.EncryptedText(blank=True)),
                        (
                            "eft_stage",
                            models.PositiveSmallIntegerField(
                                blank=True,
                                null=True,
                                validators=[
                                    django.core.validators.MinValueValidator(1),
                                    django.core.validators.MaxValueValidator(3),
                                ],
                            ),
                        ),
                        (
                            "eft_step",
                            models.PositiveSmallIntegerField(
                                blank=True,
                                null=True,
                                validators=[
                                    django.core.validators.MinValueValidator(1),
                                    django.core.validators.MaxValueValidator(9),
                                ],
                            ),
                        ),
                        (
                            "partner_a_move",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("pursue", "Pursue"),
                                    ("withdraw", "Withdraw"),
                                    ("mixed", "Mixed"),
                                    ("not_seen", "Not seen"),
                                ],
                                max_length=10,
                            ),
                        ),
                        (
                            "partner_b_move",
                            models.CharField(
                                blank=True,
                                choices=[
                                    ("pursue", "Pursue"),
                                    ("withdraw", "Withdraw"),
                                    ("mixed", "Mixed"),
                                    ("not_seen", "Not seen"),
                                ],
                                max_length=10,
                            ),
                        ),
                        ("partner_a_position", clinician.fields.EncryptedText(blank=True)),
                        ("partner_b_position", clinician.fields.EncryptedText(blank=True)),
                        ("interventions", clinician.fields.EncryptedText(blank=True)),
                        ("homework_assigned", clinician.fields.EncryptedText(blank=True)),
                        ("safety_review", clinician.fields.EncryptedText(blank=True)),
                        ("signed_at", models.DateTimeField(blank=True, null=True)),
                        ("signed_content_sha256", models.CharField(blank=True, max_length=64)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "author",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="notes",
                                to="clinician.clinician",
                            ),
                        ),
                        (
                            "practice",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="clinician.practice",
                            ),
                        ),
                        (
                            "signed_by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="clinician.clinician",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "clinician_sessionnote",
                        "ordering": ["-created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="NoteCoSignature",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("signed_at", models.DateTimeField()),
                        (
                            "practice",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="clinician.practice",
                            ),
                        ),
                        (
                            "supervisor",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="cosignatures",
                                to="clinician.clinician",
                            ),
                        ),
                        (
                            "note",
                            models.OneToOneField(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="cosignature",
                                to="couples.sessionnote",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "clinician_notecosignature",
                    },
                ),
                migrations.CreateModel(
                    name="Addendum",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("body", clinician.fields.EncryptedText(blank=True)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        (
                            "author",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="addenda",
                                to="clinician.clinician",
                            ),
                        ),
                        (
                            "practice",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="clinician.practice",
                            ),
                        ),
                        (
                            "note",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="addenda",
                                to="couples.sessionnote",
                            ),
                        ),
                    ],
                    options={
                        "verbose_name_plural": "addenda",
                        "db_table": "clinician_addendum",
                        "ordering": ["created_at"],
                    },
                ),
                migrations.CreateModel(
                    name="TherapySession",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        (
                            "kind",
                            models.CharField(
                                choices=[("joint", "Joint"), ("individual", "Individual")],
                                default="joint",
                                max_length=12,
                            ),
                        ),
                        (
                            "modality",
                            models.CharField(
                                choices=[("in_person", "In person"), ("video", "Video"), ("phone", "Phone")],
                                default="in_person",
                                max_length=12,
                            ),
                        ),
                        ("starts_at", models.DateTimeField()),
                        ("duration_minutes", models.PositiveSmallIntegerField(default=50)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("scheduled", "Scheduled"),
                                    ("held", "Held"),
                                    ("cancelled", "Cancelled"),
                                    ("no_show", "No-show"),
                                ],
                                default="scheduled",
                                max_length=12,
                            ),
                        ),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                        (
                            "attendees",
                            models.ManyToManyField(
                                blank=True, related_name="attended_sessions", to="couples.partner"
                            ),
                        ),
                        (
                            "clinician",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="sessions",
                                to="clinician.clinician",
                            ),
                        ),
                        (
                            "couple",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="sessions",
                                to="couples.couple",
                            ),
                        ),
                        (
                            "partner",
                            models.ForeignKey(
                                blank=True,
                                help_text="The partner seen, for an individual session.",
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="individual_sessions",
                                to="couples.partner",
                            ),
                        ),
                        (
                            "practice",
                            models.ForeignKey(
                                db_index=False,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="+",
                                to="clinician.practice",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "clinician_therapysession",
                        "ordering": ["-starts_at"],
                    },
                ),
                migrations.AddField(
                    model_name="sessionnote",
                    name="session",
                    field=models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="note",
                        to="couples.therapysession",
                    ),
                ),
                migrations.AddIndex(
                    model_name="therapysession",
                    index=models.Index(
                        fields=["practice", "starts_at"], name="clinician_t_practic_b5e19a_idx"
                    ),
                ),
                migrations.AddIndex(
                    model_name="therapysession",
                    index=models.Index(fields=["couple", "starts_at"], name="clinician_t_couple__7e45ad_idx"),
                ),
                migrations.AddIndex(
                    model_name="therapysession",
                    index=models.Index(
                        fields=["clinician", "status", "starts_at"], name="clinician_t_clinici_c9a7af_idx"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="therapysession",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("kind", "joint"), ("partner__isnull", True)),
                            models.Q(("kind", "individual"), ("partner__isnull", False)),
                            _connector="OR",
                        ),
                        name="session_individual_has_partner",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="therapysession",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("duration_minutes__gte", 5), ("duration_minutes__lte", 480)),
                        name="session_duration_range",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="therapysession",
                    constraint=models.CheckConstraint(
                        condition=models.Q(("status__in", ["scheduled", "held", "cancelled", "no_show"])),
                        name="session_status_valid",
                    ),
                ),
                migrations.AddIndex(
                    model_name="sessionnote",
                    index=models.Index(fields=["practice", "status"], name="clinician_s_practic_6556b6_idx"),
                ),
                migrations.AddConstraint(
                    model_name="sessionnote",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(
                                ("status", "draft"), ("signed_at__isnull", True), ("signed_by__isnull", True)
                            ),
                            models.Q(
                                ("status", "signed"),
                                ("signed_at__isnull", False),
                                ("signed_by__isnull", False),
                            ),
                            _connector="OR",
                        ),
                        name="note_signed_has_signer",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="sessionnote",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            ("eft_step__isnull", True),
                            models.Q(("eft_step__gte", 1), ("eft_step__lte", 9)),
                            _connector="OR",
                        ),
                        name="note_eft_step_range",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="sessionnote",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            ("eft_stage__isnull", True),
                            models.Q(("eft_stage", 1), ("eft_step__isnull", True)),
                            models.Q(("eft_stage", 1), ("eft_step__lte", 4)),
                            models.Q(("eft_stage", 2), ("eft_step__isnull", True)),
                            models.Q(("eft_stage", 2), ("eft_step__gte", 5), ("eft_step__lte", 7)),
                            models.Q(("eft_stage", 3), ("eft_step__isnull", True)),
                            models.Q(("eft_stage", 3), ("eft_step__gte", 8)),
                            _connector="OR",
                        ),
                        name="note_eft_step_in_stage",
                    ),
                ),
            ],
        ),
    ]
