"""Shapes of couples, partners and consents in the API. No rules here: writes are validated by
the services (a bad time zone, a third partner, a clinician of another practice)."""

from rest_framework import serializers

from clinician import selectors as clinician_selectors
from clinician.api.fields import EmptyAsNullCharField, EmptyAsNullEmailField, ScopedPrimaryKeyRelatedField
from couples import selectors
from couples.models import Consent, Couple, Partner


def _managed_couples(*, user):
    # The couple record and its partners' contact details are administrative: a practice admin
    # manages every couple of the practice (the services allow it), and neither carries notes.
    return selectors.couples_visible_to(user=user, purpose="administrative")


class CoupleSerializer(serializers.ModelSerializer):
    eft_stage = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="1 de-escalation, 2 restructuring, 3 consolidation."
    )
    active_partners = serializers.SerializerMethodField(help_text="Ids of the active partners, seat A first.")
    # Declared so the schema allows the empty value of a couple that has not separated.
    separation_reason = serializers.ChoiceField(
        choices=Couple.SeparationReason.choices,
        allow_blank=True,
        read_only=True,
        help_text="Why the couple separated; empty unless status is separated.",
    )

    class Meta:
        model = Couple
        fields = [
            "id",
            "label",
            "status",
            "primary_clinician",
            "eft_step",
            "eft_stage",
            "active_partners",
            "kind",
            "continued_from",
            "started_on",
            "discharged_on",
            "separated_on",
            "separation_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_active_partners(self, couple: Couple) -> list[int]:
        # couples_visible_to prefetches them; a couple fresh from a service has no prefetch.
        partners = getattr(couple, "active_partners", None)
        if partners is None:
            partners = couple.partners.filter(is_active=True).order_by("seat")
        return [partner.pk for partner in partners]


class CoupleCreateSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=120)
    primary_clinician = ScopedPrimaryKeyRelatedField(
        selector=clinician_selectors.clinicians_visible_to,
        required=False,
        allow_null=True,
        help_text="Defaults to you. A practice admin or an integration client names the treating clinician.",
    )
    started_on = serializers.DateField(required=False, allow_null=True)
    eft_step = serializers.IntegerField(min_value=1, max_value=9, required=False, allow_null=True)


class CoupleUpdateSerializer(serializers.Serializer):
    label = serializers.CharField(max_length=120, required=False)
    eft_step = serializers.IntegerField(min_value=1, max_value=9, required=False, allow_null=True)
    primary_clinician = ScopedPrimaryKeyRelatedField(
        selector=clinician_selectors.clinicians_visible_to, required=False
    )


class CoupleStatusSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=Couple.Status.choices,
        help_text="active, paused or discharged. A separation is recorded in the clinic's separation "
        "workflow, which moves each partner's records; `separated` is refused here.",
    )


PARTNER_DETAIL_FIELDS = [
    "display_name",
    "pronouns",
    "email",
    "phone",
    "time_zone",
    "language",
    "preferred_channel",
    "quiet_hours_start",
    "quiet_hours_end",
]


PHONE_HELP = "International form, e.g. +15551234567."


class PartnerSerializer(serializers.ModelSerializer):
    # null, not "", when the partner has none (see EmptyAsNullMixin).
    email = EmptyAsNullEmailField(read_only=True)
    phone = EmptyAsNullCharField(read_only=True, help_text=PHONE_HELP)

    class Meta:
        model = Partner
        fields = [
            "id",
            "couple",
            "seat",
            *PARTNER_DETAIL_FIELDS,
            "is_active",
            "left_on",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


def _partner_detail_fields(*, required: bool) -> dict:
    optional = {"required": False}
    return {
        "display_name": serializers.CharField(max_length=120, required=required),
        # The service checks the zone against the tz database and names the field if unknown.
        "time_zone": serializers.CharField(
            max_length=64, required=required, help_text="An IANA zone, e.g. America/Chicago."
        ),
        "pronouns": serializers.CharField(max_length=40, allow_blank=True, **optional),
        # null or "" clears it.
        "email": EmptyAsNullEmailField(allow_blank=True, **optional),
        "phone": EmptyAsNullCharField(max_length=16, allow_blank=True, help_text=PHONE_HELP, **optional),
        "language": serializers.ChoiceField(choices=Partner.Language.choices, **optional),
        "preferred_channel": serializers.ChoiceField(choices=Partner.Channel.choices, **optional),
        "quiet_hours_start": serializers.TimeField(allow_null=True, **optional),
        "quiet_hours_end": serializers.TimeField(allow_null=True, **optional),
    }


PartnerAddSerializer = type(
    "PartnerAddSerializer",
    (serializers.Serializer,),
    {
        "couple": ScopedPrimaryKeyRelatedField(selector=_managed_couples),
        **_partner_detail_fields(required=True),
    },
)
PartnerUpdateSerializer = type(
    "PartnerUpdateSerializer", (serializers.Serializer,), _partner_detail_fields(required=False)
)


class ConsentSerializer(serializers.ModelSerializer):
    class Meta:
        model = Consent
        fields = ["id", "partner", "kind", "granted", "method", "recorded_by", "recorded_at"]
        read_only_fields = fields


class ConsentRecordSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=Consent.Kind.choices)
    granted = serializers.BooleanField()
    method = serializers.ChoiceField(choices=Consent.Method.choices)
