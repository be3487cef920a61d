"""Idempotency-Key for creating POSTs: a repeat with the same key and body replays the first
response and creates nothing; the same key with another body is a 409."""

import hashlib
import json

from django.db import IntegrityError, transaction
from rest_framework import status
from rest_framework.exceptions import APIException, ValidationError
from rest_framework.response import Response

from clinician.models import IdempotencyRecord

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 200


class IdempotencyConflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "idempotency_conflict"
    default_detail = "This Idempotency-Key was already used with a different request."


def principal_id(user) -> str:
    return str(user.pk) if str(user.pk).startswith("integration:") else f"user:{user.pk}"


def request_digest(request) -> str:
    body = json.dumps(request.data, sort_keys=True, default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


class ServiceCreateMixin:
    """create() for ViewSets whose writes are services: validate the body with
    ``create_serializer_class``, call ``perform_service_create(validated_data)`` for the new
    object, answer 201 with the read serializer. With an Idempotency-Key header, the object and
    the idempotency record commit together."""

    create_serializer_class = None

    def perform_service_create(self, validated_data: dict):
        raise NotImplementedError

    def _create(self, request):
        form = self.create_serializer_class(data=request.data, context=self.get_serializer_context())
        form.is_valid(raise_exception=True)
        instance = self.perform_service_create(form.validated_data)
        return Response(self.get_serializer(instance).data, status=status.HTTP_201_CREATED)

    def create(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return self._create(request)
        if not key.strip() or len(key) > MAX_KEY_LENGTH or not key.isprintable():
            raise ValidationError({HEADER: [f"Use 1 to {MAX_KEY_LENGTH} printable characters."]})
        principal, digest = principal_id(request.user), request_digest(request)
        replay = self._replay(principal, key, digest)
        if replay is not None:
            return replay
        try:
            with transaction.atomic():
                response = self._create(request)
                if 200 <= response.status_code < 300:
                    IdempotencyRecord.objects.create(
                        principal=principal,
                        key=key,
                        method=request.method,
                        path=request.path[:300],
                        request_sha256=digest,
                        response_status=response.status_code,
                        response_body=response.data,
                    )
        except IntegrityError:
            # A concurrent request with the same key won; our create rolled back with it.
            replay = self._replay(principal, key, digest)
            if replay is None:
                raise
            return replay
        return response

    @staticmethod
    def _replay(principal: str, key: str, digest: str) -> Response | None:
        record = IdempotencyRecord.objects.filter(principal=principal, key=key).first()
        if record is None:
            return None
        if record.request_sha256 != digest:
            raise IdempotencyConflict()
        return Response(
            record.response_body, status=record.response_status, headers={"Idempotent-Replayed": "true"}
        )
