"""OpenAPI: security schemes for our two authentication classes, local times of day, and the
problem-details responses every operation can return."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension

from clinician.api.permissions import integrations_may_call

PROBLEM_SCHEMA = {
    "type": "object",
    "description": "Problem details (RFC 9457). `errors` maps field names to messages.",
    "properties": {
        "type": {"type": "string", "example": "urn:cyclecare:problem:validation"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "object", "additionalProperties": True},
    },
    "required": ["type", "title", "status", "detail"],
}
COMMON = {
    "401": "Missing or invalid credentials.",
    "403": "Authenticated, but not allowed (missing scope or role).",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "429": "Rate limit exceeded; see the Retry-After header.",
    "500": "Server error (no details are disclosed).",
}
WRITE = {
    "400": "Invalid input; `errors` names the fields.",
    "409": "Conflict with the current state (e.g. a signed note, a reused Idempotency-Key).",
    "413": "Request body too large.",
    "415": "Unsupported media type (send application/json).",
}


class IntegrationOAuth2Scheme(OpenApiAuthenticationExtension):
    target_class = "clinician.api.authentication.IntegrationOAuth2Authentication"
    name = "oauth2"

    def get_security_definition(self, auto_schema):
        from oauth2_provider.settings import oauth2_settings

        return {
            "type": "oauth2",
            "description": "Client credentials. Each client is bound to one practice.",
            "flows": {"clientCredentials": {"tokenUrl": "/o/token/", "scopes": dict(oauth2_settings.SCOPES)}},
        }

    def get_security_requirement(self, auto_schema):
        view = auto_schema.view
        method = auto_schema.method.upper()
        if not integrations_may_call(view, method):
            return []
        scopes = ["read" if method in ("GET", "HEAD", "OPTIONS") else "write"]
        scopes += list(getattr(view, "required_scopes", ()))
        return {self.name: scopes}


class ClinicianSessionScheme(OpenApiAuthenticationExtension):
    target_class = "clinician.api.authentication.ClinicianSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A clinician's session.",
        }


class LocalTimeField(OpenApiSerializerFieldExtension):
    """Times of day (homework time, quiet hours, a due time) are local wall-clock times and carry
    no UTC offset: ``20:00:00``. drf-spectacular's ``format: time`` means RFC 3339 ``full-time``,
    which requires an offset, so a validating client would reject every value we send."""

    target_class = "rest_framework.fields.TimeField"
    match_subclasses = True

    def map_serializer_field(self, auto_schema, direction):
        return {
            "type": "string",
            "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$",
            "example": "20:00:00",
            "description": "A local time of day, HH:MM[:SS], without a UTC offset.",
        }


def _is_paginated(operation: dict) -> bool:
    names = {parameter.get("name") for parameter in operation.get("parameters", []) if "name" in parameter}
    return bool(names & {"page", "cursor"})


def _has_query_parameters(operation: dict) -> bool:
    return any(parameter.get("in") == "query" for parameter in operation.get("parameters", []))


def add_problem_responses(result, generator, request, public):
    """Postprocessing hook: every operation documents its error responses in one shape."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    ref = {"$ref": "#/components/schemas/Problem"}
    for path, operations in result.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            errors = dict(COMMON)
            if "{" in path:
                errors["404"] = "Not found, or outside your scope."
            elif _is_paginated(operation):
                # DRF's paginators answer 404 for a page number or cursor that does not exist.
                errors["404"] = "No such page (a page number past the end, or an invalid cursor)."
            if _has_query_parameters(operation):
                # Filters, the report period, ``couple`` of cycle-maps/current: a bad value is a 400.
                errors["400"] = "Invalid query parameter; `errors` names it."
            if method in ("post", "put", "patch"):
                errors.update(WRITE)
            if method == "delete":
                errors["409"] = WRITE["409"]
            if any(parameter.get("name") == "format" for parameter in operation.get("parameters", [])):
                # DRF's content negotiation answers an unknown ?format= with 404.
                errors.setdefault("404", "No such `format`.")
            for code, description in errors.items():
                responses.setdefault(code, {"description": description})
            for code, response in responses.items():
                # Every error has the problem body, also one a view declares with a description only.
                if code.startswith(("4", "5")):
                    response.setdefault("content", {"application/problem+json": {"schema": ref}})
    return result
