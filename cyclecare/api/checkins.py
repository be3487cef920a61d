"""Instruments, check-ins and safety flags in the API. Thin: selectors read, services write.

Partners submit check-ins through their own pages; here a clinician records one completed on
paper in session, or an integration imports one from another system. Answers are clinical:
the selectors show them to the treating clinician and supervisor, and to integration clients of
the practice. Safety flags are for clinicians only and carry ids, never answers.
"""

from collections.abc import Mapping

import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import mixins, serializers
from rest_framework.decorators import action
from rest_framework.filters import OrderingFilter
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from clinician.api.authentication import ReadsWithToken, rows_read_with_token
from clinician.api.fields import (
    ID_MAX,
    ID_MIN,
    CompiledReads,
    FieldsOnce,
    IdFilter,
    IsoDateTimeFilter,
    ScopedPrimaryKeyRelatedField,
    first_rows,
)
from clinician.api.idempotency import ServiceCreateMixin
from clinician.api.pagination import NewestFirstCursorPagination
from clinician.api.viewsets import ScopedViewSet
from clinician.permissions import is_integration
from clinician.principals import PracticePrincipal
from couples import selectors as couples_selectors
from couples.models import Couple, Partner
from cyclecare import disclosure, selectors, services
from cyclecare.models import CheckIn, Instrument, SafetyFlag


# SERIALIZERS
# ------------------------------------------------------------------------------
class InstrumentSerializer(serializers.ModelSerializer):
    definition = serializers.JSONField(
        read_only=True, help_text="Items (text, response types), scoring, cutoffs and reliable change."
    )

    class Meta:
        model = Instrument
        fields = ["id", "code", "version", "name", "licence", "is_active", "definition"]
        read_only_fields = fields
        extra_kwargs = {
            "is_active": {"help_text": "Offered for new homework; an older version stays readable."}
        }


@extend_schema_field(
    {
        "type": "object",
        "additionalProperties": {"type": "number", "nullable": True},
        "description": "Subscale name → score (null where an item of it was not answered).",
    }
)
class SubscaleScoresField(serializers.DictField):
    pass


class CheckInSerializer(FieldsOnce, serializers.ModelSerializer):
    """A check-in as the caller may see it: answers and scores come only from
    ``disclosure.checkin_disclosed``, never from the row itself, so a safety answer (and a
    safety screen's scores) reach the treating clinician and no integration client."""

    answers = serializers.DictField(
        source="disclosed.answers",
        read_only=True,
        help_text="Item code → answer. Answers only the treating clinician may see (safety items, "
        "a safety screen's items) are left out for anyone else.",
    )
    total_score = serializers.DecimalField(
        source="disclosed.total_score",
        max_digits=7,
        decimal_places=2,
        read_only=True,
        allow_null=True,
        coerce_to_string=False,
        help_text="Null when the instrument has no total, or its scores are the treating clinician's "
        "alone (a safety screen).",
    )
    subscale_scores = SubscaleScoresField(source="disclosed.subscale_scores", read_only=True)
    clinical = serializers.BooleanField(
        source="disclosed.clinical",
        read_only=True,
        allow_null=True,
        help_text="Whether the total is in the instrument's clinical range (null: no cutoff, no total, "
        "or a score withheld from the caller).",
    )

    class Meta:
        model = CheckIn
        fields = [
            "id",
            "couple",
            "partner",
            "instrument",
            "occurrence",
            "submitted_at",
            "answers",
            "total_score",
            "subscale_scores",
            "clinical",
            "shared_with_partner",
        ]
        read_only_fields = fields

    def to_representation(self, checkin: CheckIn):
        # No request (a serializer used on its own) reads as an outsider: the rule fails closed.
        reader = disclosure.reader_of(getattr(self.context.get("request"), "user", None))
        checkin.disclosed = disclosure.checkin_disclosed(checkin, to=reader)
        return super().to_representation(checkin)


# Only the columns a check-in needs (ids, state and the couple's scope): the partner's name and
# contact details are encrypted, and recording a check-in does not decrypt them.
PARTNER_COLUMNS = ("id", "practice_id", "couple_id", "is_active")
COUPLE_COLUMNS = ("id", "practice_id", "primary_clinician_id", "status")
PARTNER_ROW = (*PARTNER_COLUMNS, *(f"couple__{column}" for column in COUPLE_COLUMNS))
INSTRUMENT_COLUMNS = tuple(field.attname for field in Instrument._meta.concrete_fields)


def _partners_in_scope(*, user):
    return couples_selectors.partners_visible_to(user=user).filter(is_active=True)


def _is_id(value) -> bool:
    return type(value) is int and ID_MIN <= value <= ID_MAX


def _reads(*, user, partner_id: int, instrument_id: int):
    return [
        (_partners_in_scope(user=user).filter(pk=partner_id), PARTNER_ROW),
        (selectors.instruments_visible_to(user=user).filter(pk=instrument_id), INSTRUMENT_COLUMNS),
    ]


def _integration_reads(*, practice_id, partner_id: int, instrument_id: int):
    return _reads(
        user=PracticePrincipal(client_id=0, practice_id=practice_id, name="", scopes=frozenset()),
        partner_id=partner_id,
        instrument_id=instrument_id,
    )


# An integration client's scope is its practice alone: the same SQL text for every client, with
# the practice and the two ids as parameters (compiled once per process, no rows kept).
_compiled_integration_reads = CompiledReads(_integration_reads)
# The same read, in the bearer token's own query: the practice is the token's client's.
_reads_with_token = ReadsWithToken(_integration_reads)


def partner_and_instrument(
    *, user, partner_id: int, instrument_id: int
) -> tuple[Partner | None, Instrument | None]:
    """The active partner (with its couple's scope columns) and the instrument a check-in names,
    each as its selector scopes it for ``user``, read in one round trip (``first_rows``)."""
    if is_integration(user):
        rows = _compiled_integration_reads(
            practice_id=user.practice_id, partner_id=partner_id, instrument_id=instrument_id
        )
    else:
        rows = first_rows(*_reads(user=user, partner_id=partner_id, instrument_id=instrument_id))
    return _partner_and_instrument_of(rows)


def _partner_and_instrument_of(rows) -> tuple[Partner | None, Instrument | None]:
    partner_row, instrument_row = rows
    partner = instrument = None
    if partner_row is not None:
        split = len(PARTNER_COLUMNS)
        partner = Partner.from_db(Partner.objects.db, PARTNER_COLUMNS, partner_row[:split])
        partner.couple = Couple.from_db(Couple.objects.db, COUPLE_COLUMNS, partner_row[split:])
    if instrument_row is not None:
        instrument = Instrument.from_db(Instrument.objects.db, INSTRUMENT_COLUMNS, instrument_row)
    return partner, instrument


def _body_ids(data) -> dict | None:
    """The partner and instrument ids of a check-in body, when both are ids as JSON numbers."""
    if isinstance(data, Mapping) and _is_id(data.get("partner")) and _is_id(data.get("instrument")):
        return {"partner_id": data["partner"], "instrument_id": data["instrument"]}
    return None


class ReadTogetherField(ScopedPrimaryKeyRelatedField):
    """A foreign key of ``CheckInRecordSerializer`` that takes the row its serializer read with
    the others for this request; any other input goes the ORM's (and DRF's) own way."""

    def to_internal_value(self, data):
        known = getattr(self.parent, "read_together", {}).get(self.field_name)
        if known is not None and type(data) is int and known[0] == data:
            if known[1] is None:
                self.fail("does_not_exist", pk_value=data)
            return known[1]
        return super().to_internal_value(data)


class CheckInRecordSerializer(FieldsOnce, serializers.Serializer):
    partner = ReadTogetherField(selector=_partners_in_scope)
    instrument = ReadTogetherField(selector=selectors.instruments_visible_to)
    answers = serializers.DictField(help_text="Item code → answer, as the instrument defines them.")
    occurrence = ScopedPrimaryKeyRelatedField(
        selector=selectors.occurrences_visible_to, required=False, allow_null=True
    )
    submitted_at = serializers.DateTimeField(
        required=False, help_text="When the partner answered; default now."
    )

    def to_internal_value(self, data):
        # Ids as JSON numbers (the usual body): the partner and the instrument in one read, or
        # none at all when they were read with an integration client's token.
        self.read_together = {}
        ids = _body_ids(data)
        if ids is not None:
            request = self.context["request"]
            rows = rows_read_with_token(request, **ids)
            if rows is not None:
                partner, instrument = _partner_and_instrument_of(rows)
            else:
                partner, instrument = partner_and_instrument(user=request.user, **ids)
            self.read_together = {
                "partner": (data["partner"], partner),
                "instrument": (data["instrument"], instrument),
            }
        return super().to_internal_value(data)


class SafetyFlagSerializer(serializers.ModelSerializer):
    """Ids, state and who handled it — never the answers that raised it."""

    class Meta:
        model = SafetyFlag
        fields = [
            "id",
            "couple",
            "partner",
            "checkin",
            "source",
            "status",
            "raised_at",
            "clinician_notified_at",
            "acknowledged_by",
            "acknowledged_at",
            "resolved_by",
            "resolved_at",
            "resolution_note",
        ]
        read_only_fields = fields


class SafetyFlagResolveSerializer(serializers.Serializer):
    resolution_note = serializers.CharField(max_length=5_000, help_text="How the concern was addressed.")


# FILTERS
# ------------------------------------------------------------------------------
# Ids are plain numbers, not model choices: a choice filter would look the id up among all
# practices' rows and answer "invalid choice" only for ids that do not exist anywhere.
class InstrumentFilter(django_filters.FilterSet):
    class Meta:
        model = Instrument
        fields = ["code", "is_active"]


class CheckInFilter(django_filters.FilterSet):
    couple = IdFilter(field_name="couple")
    partner = IdFilter(field_name="partner")
    instrument = IdFilter(field_name="instrument")
    instrument_code = django_filters.CharFilter(field_name="instrument__code")
    submitted_after = IsoDateTimeFilter(field_name="submitted_at", lookup_expr="gte")
    submitted_before = IsoDateTimeFilter(field_name="submitted_at", lookup_expr="lt")

    class Meta:
        model = CheckIn
        fields = ["couple", "partner", "instrument", "instrument_code", "submitted_after", "submitted_before"]


class SafetyFlagFilter(django_filters.FilterSet):
    couple = IdFilter(field_name="couple")

    class Meta:
        model = SafetyFlag
        fields = ["status", "couple"]


# VIEWS
# ------------------------------------------------------------------------------
@extend_schema_view(
    list=extend_schema(summary="Instruments of the caller's practice, every version (is_active: current)"),
    retrieve=extend_schema(summary="One instrument with its definition"),
)
class InstrumentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Shipped instruments and the practice's licensed ones. Definitions are item text, not PHI."""

    serializer_class = InstrumentSerializer
    filterset_class = InstrumentFilter
    ordering_fields = ["code", "version", "id"]
    ordering = ["code", "-version", "id"]

    model = Instrument

    def select(self, user):
        return selectors.instruments_visible_to(user=user)


@extend_schema_view(
    list=extend_schema(summary="Check-ins in scope, newest first (cursor pagination)"),
    retrieve=extend_schema(summary="One check-in (the read is audited)"),
)
@extend_schema_view(
    create=extend_schema(request=CheckInRecordSerializer, summary="Record a partner's check-in")
)
class CheckInViewSet(ServiceCreateMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """A partner's answers and scores. Partners submit on their own pages; a clinician may record
    one completed on paper, and an integration may import one (scored and audited the same way)."""

    create_serializer_class = CheckInRecordSerializer

    def perform_service_create(self, validated_data):
        return services.checkin_submit(recorded_by=self.request.user, **validated_data)

    def reads_with_token(self, request):
        """A new check-in's partner and instrument, read with an integration client's bearer
        token (``ReadsWithToken``): one query fewer per check-in."""
        if self.action != "create":
            return None
        ids = _body_ids(request.data)
        return None if ids is None else (_reads_with_token, ids)

    serializer_class = CheckInSerializer
    filterset_class = CheckInFilter
    # The cursor fixes the order; a client-chosen ordering would break it.
    filter_backends = [DjangoFilterBackend]
    pagination_class = NewestFirstCursorPagination
    cursor_ordering = ("-submitted_at", "-id")

    model = CheckIn

    def select(self, user):
        return selectors.checkins_visible_to(user=user)

    def get_object(self):
        # The selector records the read in the audit trail.
        return selectors.checkin_get_for(user=self.request.user, checkin_id=self.url_pk())


@extend_schema_view(
    list=extend_schema(summary="Safety flags on the caller's caseload (clinicians only)"),
    retrieve=extend_schema(summary="One safety flag (the read is audited)"),
)
class SafetyFlagViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, ScopedViewSet):
    """Raised by a partner's private safety answer; the treating clinician (and supervisor)
    acknowledges and resolves it. Integration tokens are refused."""

    serializer_class = SafetyFlagSerializer
    filterset_class = SafetyFlagFilter
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    ordering_fields = ["raised_at", "id"]
    ordering = ["-raised_at", "-id"]
    allow_integrations = False

    model = SafetyFlag

    def select(self, user):
        return selectors.safety_flags_visible_to(user=user)

    def get_object(self):
        # The selector records the read in the audit trail.
        return selectors.safety_flag_get_for(user=self.request.user, flag_id=self.url_pk())

    @extend_schema(request=None, responses=SafetyFlagSerializer, summary="Acknowledge an open flag")
    @action(detail=True, methods=["post"])
    def acknowledge(self, request, pk=None):
        flag = services.safety_flag_acknowledge(user=request.user, flag=self.get_object())
        return Response(self.get_serializer(flag).data)

    @extend_schema(
        request=SafetyFlagResolveSerializer, responses=SafetyFlagSerializer, summary="Resolve a flag"
    )
    @action(detail=True, methods=["post"])
    def resolve(self, request, pk=None):
        flag = self.get_object()
        form = SafetyFlagResolveSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        flag = services.safety_flag_resolve(
            user=request.user, flag=flag, resolution_note=form.validated_data["resolution_note"]
        )
        return Response(self.get_serializer(flag).data)


router = SimpleRouter()
router.register("instruments", InstrumentViewSet, basename="instrument")
router.register("checkins", CheckInViewSet, basename="checkin")
router.register("safety-flags", SafetyFlagViewSet, basename="safety-flag")
