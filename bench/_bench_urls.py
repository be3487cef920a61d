"""URLs for bench/api_bench.py: the project's own, plus two peers of ``POST /api/v1/checkins/``
that insert the same CheckIn row from the same JSON body ``{partner, instrument, answers}``.

- ``bench/bare/checkins/``: the framework limit. A plain Django view behind the same middleware:
  parse the JSON, read the partner (its practice and couple go into the row), INSERT. No
  authentication, no validation, no scoring, no audit, no outbox.
- ``bench/naive/checkins/``: the tutorial DRF peer. ``CreateAPIView`` + ``ModelSerializer`` with
  ``TokenAuthentication`` (rest_framework.authtoken: unhashed, unscoped, never expiring) and
  ``IsAuthenticated``; the project's other DRF defaults (parser, renderer, throttle) apply.

Only bench/_bench_settings.py routes here; nothing in the application imports this module.
"""

import json

from django.http import HttpRequest, JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from rest_framework import generics, serializers
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import IsAuthenticated

from couples.models import Partner
from cyclecare.models import CheckIn


@csrf_exempt
@require_POST
def bare_checkin(request: HttpRequest) -> JsonResponse:
    body = json.loads(request.body)
    partner = Partner.objects.only("practice_id", "couple_id").get(pk=body["partner"])
    checkin = CheckIn.objects.create(
        practice_id=partner.practice_id,
        couple_id=partner.couple_id,
        partner_id=partner.pk,
        instrument_id=body["instrument"],
        submitted_at=timezone.now(),
        answers=body["answers"],
    )
    return JsonResponse({"id": checkin.pk}, status=201)


class NaiveCheckInSerializer(serializers.ModelSerializer):
    answers = serializers.JSONField()

    class Meta:
        model = CheckIn
        fields = ["id", "partner", "instrument", "answers", "submitted_at"]
        read_only_fields = ["id", "submitted_at"]

    def create(self, validated_data):
        partner = validated_data["partner"]
        return CheckIn.objects.create(
            practice_id=partner.practice_id,
            couple_id=partner.couple_id,
            submitted_at=timezone.now(),
            **validated_data,
        )


class NaiveCheckInCreate(generics.CreateAPIView):
    queryset = CheckIn.objects.all()
    serializer_class = NaiveCheckInSerializer
    authentication_classes = [TokenAuthentication]
    permission_classes = [IsAuthenticated]


urlpatterns = [
    path("bench/bare/checkins/", bare_checkin),
    path("bench/naive/checkins/", NaiveCheckInCreate.as_view()),
    path("", include("config.urls")),
]
