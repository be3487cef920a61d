"""OpenAPI: security schemes for our two authentication classes, and the problem-details
responses every operation can return."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension

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

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        from oauth2_provider.settings import oauth2_settings

        return {
            "type": "oauth2",
            "description": "Client credentials. Each client is bound to one practice.",
            "flows": {"clientCredentials": {"tokenUrl": "/o/token/", "scopes": dict(oauth2_settings.SCOPES)}},
        }

    def get_security_requirement(self, auto_schema):  # type: ignore[no-untyped-def]
        view = auto_schema.view
        method = auto_schema.method.upper()
        scopes = ["read" if method in ("GET", "HEAD", "OPTIONS") else "write"]
        scopes += list(getattr(view, "required_scopes", ()))
        if not getattr(view, "allow_integrations", True):
            return []
        return {self.name: scopes}


class ClinicianSessionScheme(OpenApiAuthenticationExtension):
    target_class = "clinician.api.authentication.ClinicianSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):  # type: ignore[no-untyped-def]
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A clinician's session.",
        }


def add_problem_responses(result, generator, request, public):  # type: ignore[no-untyped-def]
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
            if method in ("post", "put", "patch"):
                errors.update(WRITE)
            if method == "delete":
                errors["409"] = WRITE["409"]
            for code, description in errors.items():
                responses.setdefault(
                    code,
                    {"description": description, "content": {"application/problem+json": {"schema": ref}}},
                )
    return result
