"""Shapes of practices, clinicians, sessions, notes and addenda in the API. No rules here:
writes are validated by the services."""

from rest_framework import serializers

from clinician import selectors as clinician_selectors
from clinician.models import Addendum, Clinician, Practice, SessionNote, TherapySession
from couples import selectors as couples_selectors

from .fields import ScopedPrimaryKeyRelatedField


def _schedulable_couples(*, user):
    return couples_selectors.couples_visible_to(user=user, purpose="administrative")


def _schedulable_partners(*, user):
    return couples_selectors.partners_visible_to(user=user, purpose="administrative")


class PracticeSerializer(serializers.ModelSerializer):
    class Meta:
        model = Practice
        fields = ["id", "name", "slug", "time_zone", "created_at"]
        read_only_fields = fields


class ClinicianSerializer(serializers.ModelSerializer):
    class Meta:
        model = Clinician
        fields = [
            "id",
            "display_name",
            "role",
            "credentials",
            "licence_jurisdiction",
            "is_prelicensed",
            "supervisor",
            "is_active",
        ]
        # Clinicians are managed by the practice admin, not through the API.
        read_only_fields = fields


class TherapySessionSerializer(serializers.ModelSerializer):
    attendees = serializers.PrimaryKeyRelatedField(many=True, read_only=True)
    has_note = serializers.SerializerMethodField()

    class Meta:
        model = TherapySession
        fields = [
            "id",
            "couple",
            "clinician",
            "kind",
            "partner",
            "modality",
            "starts_at",
            "duration_minutes",
            "status",
            "attendees",
            "has_note",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_note(self, session: TherapySession) -> bool:
        return hasattr(session, "note")


class SessionScheduleSerializer(serializers.Serializer):
    couple = ScopedPrimaryKeyRelatedField(selector=_schedulable_couples)
    starts_at = serializers.DateTimeField()
    kind = serializers.ChoiceField(choices=TherapySession.Kind.choices, default=TherapySession.Kind.JOINT)
    partner = ScopedPrimaryKeyRelatedField(selector=_schedulable_partners, required=False, allow_null=True)
    modality = serializers.ChoiceField(
        choices=TherapySession.Modality.choices, default=TherapySession.Modality.IN_PERSON
    )
    duration_minutes = serializers.IntegerField(min_value=5, max_value=480, default=50)


class SessionRescheduleSerializer(serializers.Serializer):
    starts_at = serializers.DateTimeField()


class SessionOutcomeSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[c for c in TherapySession.Status.choices if c[0] != TherapySession.Status.SCHEDULED]
    )
    attendees = ScopedPrimaryKeyRelatedField(selector=_schedulable_partners, many=True, required=False)


NOTE_CONTENT_FIELDS = [
    "format",
    "data",
    "subjective",
    "objective",
    "behavior",
    "intervention",
    "response",
    "assessment",
    "plan",
    "eft_stage",
    "eft_step",
    "partner_a_move",
    "partner_b_move",
    "partner_a_position",
    "partner_b_position",
    "interventions",
    "homework_assigned",
    "safety_review",
]


class SessionNoteSerializer(serializers.ModelSerializer):
    # Blank until the clinician records a move; read-only model fields lose allow_blank, so the
    # schema would otherwise leave "" out of the enum.
    partner_a_move = serializers.ChoiceField(
        choices=SessionNote.PartnerMove.choices, allow_blank=True, read_only=True
    )
    partner_b_move = serializers.ChoiceField(
        choices=SessionNote.PartnerMove.choices, allow_blank=True, read_only=True
    )
    cosigned_by = serializers.SerializerMethodField()
    cosigned_at = serializers.SerializerMethodField()

    class Meta:
        model = SessionNote
        fields = [
            "id",
            "session",
            "author",
            "status",
            *NOTE_CONTENT_FIELDS,
            "signed_at",
            "signed_by",
            "signed_content_sha256",
            "cosigned_by",
            "cosigned_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_cosigned_by(self, note: SessionNote) -> int | None:
        cosignature = getattr(note, "cosignature", None)
        return cosignature.supervisor_id if cosignature else None

    def get_cosigned_at(self, note: SessionNote) -> str | None:
        cosignature = getattr(note, "cosignature", None)
        return cosignature.signed_at.isoformat() if cosignature else None


def _note_content_fields(required_format: bool) -> dict:
    text = {"required": False, "allow_blank": True, "max_length": 20_000}
    fields = {name: serializers.CharField(**text) for name in NOTE_CONTENT_FIELDS[1:9]}
    fields.update({name: serializers.CharField(**text) for name in SessionNote.CYCLE_TEXT_FIELDS})
    fields["format"] = serializers.ChoiceField(choices=SessionNote.Format.choices, required=required_format)
    fields["eft_stage"] = serializers.IntegerField(min_value=1, max_value=3, required=False, allow_null=True)
    fields["eft_step"] = serializers.IntegerField(min_value=1, max_value=9, required=False, allow_null=True)
    fields["partner_a_move"] = serializers.ChoiceField(
        choices=SessionNote.PartnerMove.choices, required=False
    )
    fields["partner_b_move"] = serializers.ChoiceField(
        choices=SessionNote.PartnerMove.choices, required=False
    )
    return fields


NoteCreateSerializer = type(
    "NoteCreateSerializer",
    (serializers.Serializer,),
    {
        "session": ScopedPrimaryKeyRelatedField(selector=clinician_selectors.sessions_visible_to_clinically),
        **_note_content_fields(required_format=False),
    },
)
NoteUpdateSerializer = type("NoteUpdateSerializer", (serializers.Serializer,), _note_content_fields(False))


class AddendumSerializer(serializers.ModelSerializer):
    class Meta:
        model = Addendum
        fields = ["id", "note", "author", "body", "created_at"]
        read_only_fields = ["id", "note", "author", "created_at"]
        # The encrypted column is nullable (an empty value is stored as NULL), so DRF would make the
        # field optional: a request without it must be a 400 naming it, not a KeyError in the view.
        extra_kwargs = {"body": {"max_length": 20_000, "required": True}}
