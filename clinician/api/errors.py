"""One error shape for the whole API: problem details (RFC 9457).

    {"type": "urn:cyclecare:problem:validation", "title": "Invalid input.", "status": 400,
     "detail": "...", "errors": {"field": ["message", ...]}}

Django's ValidationError from a service becomes a 400 (or 403/409 by its code), Http404 a 404,
and anything unexpected a 500 with no trace and no message. Nothing here echoes request data.
"""

import logging
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .parsers import RequestBodyTooLarge

logger = logging.getLogger("cyclecare.api")

PROBLEM_CONTENT_TYPE = "application/problem+json"
# Service error codes that are not plain "invalid input".
FORBIDDEN_CODES = {"forbidden", "clinician_only", "not_clinician"}
CONFLICT_CODES = {"signed", "duplicate", "already_completed", "third_partner", "invalid_state"}
TITLES = {
    400: "Invalid input.",
    401: "Authentication required.",
    403: "Not allowed.",
    404: "Not found.",
    405: "Method not allowed.",
    406: "Not acceptable.",
    409: "Conflict.",
    413: "Request body too large.",
    415: "Unsupported media type.",
    429: "Too many requests.",
    500: "Server error.",
}


def problem(status_code: int, code: str, detail: str, errors: dict | None = None) -> dict:
    body = {
        "type": f"urn:cyclecare:problem:{code}",
        "title": TITLES.get(status_code, "Error."),
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    return body


def _django_validation_error(exc: DjangoValidationError) -> exceptions.APIException:
    codes = (
        {error.code for error in exc.error_list if error.code}
        if not hasattr(exc, "error_dict")
        else {error.code for errors in exc.error_dict.values() for error in errors if error.code}
    )
    if codes & FORBIDDEN_CODES:
        return exceptions.PermissionDenied(" ".join(exc.messages))
    payload = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    error = exceptions.ValidationError(payload)
    if codes & CONFLICT_CODES:
        error.status_code = status.HTTP_409_CONFLICT
    return error


def problem_exception_handler(exc: Exception, context: dict) -> Response:
    if isinstance(exc, DjangoValidationError):
        exc = _django_validation_error(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestBodyTooLarge()

    response = exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        # Class names only: messages of unexpected errors can carry data.
        logger.error("api: unhandled %s in %s", type(exc).__name__, type(view).__name__ if view else "?")
        response = Response(problem(500, "server_error", "Something went wrong on our side."), status=500)
        response.content_type = PROBLEM_CONTENT_TYPE
        return response

    status_code = response.status_code
    if isinstance(exc, exceptions.ValidationError):
        errors = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        code = "conflict" if status_code == 409 else "validation"
        detail = "Some fields need attention." if status_code == 400 else _first_message(errors)
        response.data = problem(status_code, code, detail, _plain(errors))
    else:
        code = getattr(exc, "default_code", "error")
        detail = str(getattr(exc, "detail", "")) or TITLES.get(status_code, "Error.")
        response.data = problem(status_code, code, detail)
    if status_code >= 400:
        logger.info("api: %s %s", status_code, code)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def _plain(errors) -> dict:
    """ErrorDetail trees as plain strings (nested serializers give dicts and lists)."""
    if isinstance(errors, dict):
        return {str(key): _plain(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_plain(value) for value in errors]
    return str(errors)


def _first_message(errors) -> str:
    for value in errors.values() if isinstance(errors, dict) else errors:
        if isinstance(value, list | dict):
            return _first_message(value)
        return str(value)
    return "Conflict."


# Exempt like every DRF view (DRF checks CSRF itself, for session callers only): otherwise a POST
# to an unknown path answers with Django's HTML CSRF page instead of this 404.
@csrf_exempt
def api_not_found(request: HttpRequest, *args, **kwargs) -> JsonResponse:
    """Unknown paths under /api/ answer in the API's shape, not an HTML page."""
    return JsonResponse(
        problem(404, "not_found", "No such endpoint."), status=404, content_type=PROBLEM_CONTENT_TYPE
    )


def problem_for_unreadable_body(view: Callable) -> Callable:
    """For the API's plain Django views (the OAuth2 token endpoints, which read forms): a body
    over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is a 413 and a form over
    ``DATA_UPLOAD_MAX_NUMBER_FIELDS`` a 400, in the API's shape rather than Django's HTML page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except RequestDataTooBig:
            body = problem(413, RequestBodyTooLarge.default_code, RequestBodyTooLarge.default_detail)
        except TooManyFieldsSent:
            body = problem(400, "parse_error", "The form has too many fields.")
        return JsonResponse(body, status=body["status"], content_type=PROBLEM_CONTENT_TYPE)

    return wrapped
