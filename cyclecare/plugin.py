"""What a host Django project adds to run cyclecare inside it.

In the host's settings::

    import cyclecare.plugin

    INSTALLED_APPS += cyclecare.plugin.INSTALLED_APPS
    cyclecare.plugin.configure(globals())  # API settings the host has not set itself

and in its root URLconf::

    path("", include("cyclecare.urls")),

Settings the host must provide:

``SALT_KEY``
    A list of salts for django-fernet-encrypted-fields. PHI columns are encrypted with keys
    derived from ``SECRET_KEY`` (and ``SECRET_KEY_FALLBACKS``) and each salt; the first salt
    encrypts, every salt decrypts. Rotate by putting a new salt first, then run
    ``python manage.py rotate_phi_keys``.

Celery
    Reminders and notifications run as Celery tasks (``@shared_task``), so the host needs a
    Celery app loaded with Django (``CELERY_BROKER_URL`` etc.), a worker, and one beat running
    cyclecare's periodic tasks (see ``config/celery_app.py`` in the cyclecare repository for the
    schedule). Without a broker, tasks cannot be enqueued.

``CYCLECARE``
    Optional dict of cyclecare's tunables (see ``cyclecare/conf.py`` for the keys and
    defaults); unknown keys are rejected by a system check.

Users come from ``settings.AUTH_USER_MODEL``: cyclecare never defines its own user model, and
it needs ``django.contrib.auth``, ``contenttypes``, ``sessions``, ``messages`` and
``admin`` (present in every ``startproject`` site).
"""

# Order matters: clinician (practices, clinicians) before couples before cyclecare,
# the same order as the migrations' dependencies.
INSTALLED_APPS = [
    # Third-party apps cyclecare's API is built on (skip any the host already has).
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "oauth2_provider",
    "clinician",
    "couples",
    "cyclecare",
]

# What configure() adds to a settings module that lacks them: the API (DRF), its OpenAPI schema
# (drf-spectacular, Swagger UI served from the sidecar package) and OAuth2 for integrations
# (django-oauth-toolkit, client credentials). A host that already sets one keeps its own.
API_SETTINGS = {
    "REST_FRAMEWORK": {
        "DEFAULT_AUTHENTICATION_CLASSES": [
            "clinician.api.authentication.IntegrationOAuth2Authentication",
            "clinician.api.authentication.ClinicianSessionAuthentication",
        ],
        "DEFAULT_PERMISSION_CLASSES": ["clinician.api.permissions.IsClinicianOrIntegration"],
        "DEFAULT_FILTER_BACKENDS": [
            "django_filters.rest_framework.DjangoFilterBackend",
            "rest_framework.filters.OrderingFilter",
        ],
        "DEFAULT_PAGINATION_CLASS": "clinician.api.pagination.PagePagination",
        "PAGE_SIZE": 50,
        "DEFAULT_THROTTLE_CLASSES": ["clinician.api.throttling.PrincipalRateThrottle"],
        "DEFAULT_THROTTLE_RATES": {"principal": "1200/min"},
        "EXCEPTION_HANDLER": "clinician.api.errors.problem_exception_handler",
        "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
        "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
        "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
        "UNAUTHENTICATED_USER": None,
    },
    "SPECTACULAR_SETTINGS": {
        "TITLE": "cyclecare API",
        "DESCRIPTION": (
            "Integration API for clinic systems. Authenticate with OAuth2 client credentials "
            "(`/o/token/`); every client is bound to one practice and sees nothing outside it. "
            "Errors are problem details (application/problem+json)."
        ),
        "VERSION": "1.0.0",
        "SERVE_INCLUDE_SCHEMA": False,
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
        "COMPONENT_SPLIT_REQUEST": True,
        # Tags (Swagger UI sections) from the first path part after /api/v1/.
        "SCHEMA_PATH_PREFIX": r"/api/v[0-9]+",
        "ENUM_NAME_OVERRIDES": {
            "PartnerMoveEnum": "clinician.models.SessionNote.PartnerMove",
            # Several models have a "kind" or a "status"; name each set after its model.
            "SessionKindEnum": "clinician.models.TherapySession.Kind",
            "CoupleStatusEnum": "couples.models.Couple.Status",
            "ConsentKindEnum": "couples.models.Consent.Kind",
            "AssignmentKindEnum": "cyclecare.models.Assignment.Kind",
            "AssignmentStatusEnum": "cyclecare.models.Assignment.Status",
            "OccurrenceStatusEnum": "cyclecare.models.Occurrence.Status",
        },
        "POSTPROCESSING_HOOKS": [
            "drf_spectacular.hooks.postprocess_schema_enums",
            "clinician.api.schema.add_problem_responses",
        ],
    },
    # Named explicitly: cyclecare's IntegrationClient points at this (swappable) model.
    "OAUTH2_PROVIDER_APPLICATION_MODEL": "oauth2_provider.Application",
    "OAUTH2_PROVIDER": {
        "SCOPES": {
            "read": "Read the practice's records (without note bodies)",
            "write": "Create and change records",
            "notes:read": "Read session note bodies",
            "reports:read": "Read report aggregates",
        },
        "DEFAULT_SCOPES": ["read"],
        "SCOPES_BACKEND_CLASS": "clinician.api.scopes.IntegrationClientScopes",
        "OAUTH2_VALIDATOR_CLASS": "clinician.api.authentication.IntegrationOAuth2Validator",
        "ACCESS_TOKEN_EXPIRE_SECONDS": 3600,
        # The OAuth 2.0 Security BCP (RFC 9700): only client credentials are used here, tokens
        # are stored hashed, never accepted in a query string, and no http redirect URIs.
        "COMPLIANT_BCP_RFC9700_IMPLICIT_GRANT": True,
        "COMPLIANT_BCP_RFC9700_PASSWORD_GRANT": True,
        "COMPLIANT_BCP_RFC9700_PKCE_METHOD": True,
        "COMPLIANT_BCP_RFC9700_ACCESS_TOKEN_TRANSPORT": True,
        "COMPLIANT_BCP_RFC9700_AUTHZ_RESPONSE_ISS": True,
        "COMPLIANT_BCP_RFC9700_TOKEN_STORAGE": True,
        "REFRESH_TOKEN_REUSE_PROTECTION": True,
        "ALLOWED_REDIRECT_URI_SCHEMES": ["https"],
    },
}


def configure(settings_namespace: dict) -> None:
    """Add API_SETTINGS to a settings module's namespace where the host has not set them."""
    import copy

    for name, value in API_SETTINGS.items():
        settings_namespace.setdefault(name, copy.deepcopy(value))
