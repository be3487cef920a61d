"""What a host Django project adds to run cyclecare inside it.

In the host's settings::

    import cyclecare.plugin

    INSTALLED_APPS += cyclecare.plugin.INSTALLED_APPS
    cyclecare.plugin.configure(globals())  # after MIDDLEWARE: API and sign-in settings, middleware

and in its root URLconf (allauth's URL names are global, so it is mounted at the root)::

    from allauth.account.decorators import secure_admin_login

    admin.site.login = secure_admin_login(admin.site.login)  # the admin signs in with 2FA too
    path("accounts/", include("allauth.urls")),
    path("", include("cyclecare.urls")),

Clinician sign-in is django-allauth with TOTP two-factor (required while
``CYCLECARE["REQUIRE_2FA"]`` is on, the default) and django-axes lockouts; ``configure()`` sets
``AUTHENTICATION_BACKENDS``, allauth's and axes' settings (``AUTH_SETTINGS``) where the host has
not, and adds ``AUTH_MIDDLEWARE`` and axes' middleware to ``MIDDLEWARE`` where missing.

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

Logging
    The ``clinician`` app redacts partner-link tokens (which are in partner pages' paths) and
    query strings from every log record made in the process (``clinician/logging.py``). Django's
    default ``django`` logger also mails the admins, when ``ADMINS`` is set, the request and the
    traceback's local variables, which carry tokens and PHI: name ``"django"`` in ``LOGGING``
    with handlers of your own, as ``config/settings/base.py`` in the cyclecare repository does.

Users come from ``settings.AUTH_USER_MODEL``: cyclecare never defines its own user model, and
it needs ``django.contrib.auth``, ``contenttypes``, ``sessions``, ``messages`` and
``admin`` (present in every ``startproject`` site).
"""

from datetime import timedelta

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
    # Clinician sign-in: allauth accounts with TOTP two-factor and recovery codes; axes locks out
    # repeated failures. After clinician, whose templates restyle allauth's pages.
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "axes",
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
        # JSON only, refused before parsing when nested too deep or too large (a 400, a 413).
        "DEFAULT_PARSER_CLASSES": ["clinician.api.parsers.BoundedJSONParser"],
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
            "PartnerMoveEnum": "couples.models.SessionNote.PartnerMove",
            # Several models have a "kind" or a "status"; name each set after its model.
            "SessionKindEnum": "couples.models.TherapySession.Kind",
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
            "audit:read": "Search the audit trail (who read or changed which record)",
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


# Clinician sign-in (django-allauth with its mfa app, django-axes), added by configure() where the
# host has not set them. Sign-up is closed: practices add their clinicians.
AUTH_SETTINGS = {
    # axes first: it refuses a locked-out username+IP before any password is checked.
    "AUTHENTICATION_BACKENDS": [
        "axes.backends.AxesStandaloneBackend",
        "allauth.account.auth_backends.AuthenticationBackend",
    ],
    "ACCOUNT_ADAPTER": "clinician.auth.ClinicAccountAdapter",
    "ACCOUNT_FORMS": {"login": "clinician.auth.ClinicLoginForm"},
    # Clinicians' usernames are their email addresses; either is accepted.
    "ACCOUNT_LOGIN_METHODS": {"username", "email"},
    "ACCOUNT_SIGNUP_FIELDS": ["email*", "username*", "password1*", "password2*"],
    # Accounts are made by the practice, so there is no address to prove at sign-up.
    "ACCOUNT_EMAIL_VERIFICATION": "none",
    # Never "remember me": the session ends with the browser or after SESSION_IDLE_MINUTES idle.
    "ACCOUNT_SESSION_REMEMBER": False,
    "ACCOUNT_LOGOUT_ON_GET": False,
    "ACCOUNT_LOGOUT_REDIRECT_URL": "account_login",
    # Email the user when their password or two-factor setup changes (no PHI in these mails).
    "ACCOUNT_EMAIL_NOTIFICATIONS": True,
    "MFA_ADAPTER": "clinician.auth.ClinicMFAAdapter",
    "MFA_FORMS": {
        "authenticate": "clinician.auth.ClinicAuthenticateForm",
        "activate_totp": "clinician.auth.ClinicActivateTOTPForm",
    },
    "MFA_SUPPORTED_TYPES": ["totp", "recovery_codes"],
    "MFA_TOTP_ISSUER": "cyclecare",
    # Accept the code of the step before or after the current one (a phone's clock drifts).
    "MFA_TOTP_TOLERANCE": 1,
    # axes: 5 failures for one username from one address lock that pair out for 15 minutes;
    # a success clears the count. The lockout page says nothing about the account.
    "AXES_FAILURE_LIMIT": 5,
    # allauth's own failed-login limit stays as a second, looser wall (per typed name across
    # addresses, per address across names), so axes' lockout page is what a person meets.
    "ACCOUNT_RATE_LIMITS": {"login_failed": "20/m/ip,10/15m/key"},
    "AXES_COOLOFF_TIME": timedelta(minutes=15),
    "AXES_LOCKOUT_PARAMETERS": [["username", "ip_address"]],
    "AXES_RESET_ON_SUCCESS": True,
    "AXES_USERNAME_CALLABLE": "clinician.auth.axes_username",
    "AXES_CLIENT_IP_CALLABLE": "clinician.auth.client_ip",
    "AXES_LOCKOUT_CALLABLE": "clinician.auth.lockout_response",
}

# Where configure() puts cyclecare's middleware in a host's MIDDLEWARE that lacks it: allauth's
# and the clinician session rules after Django's authentication and messages middleware (they
# read request.user and may leave a message), axes last.
AUTH_MIDDLEWARE = [
    "allauth.account.middleware.AccountMiddleware",
    "clinician.middleware.AuditContextMiddleware",
    "clinician.middleware.SessionIdleTimeoutMiddleware",
    "clinician.middleware.DeactivatedClinicianMiddleware",
    "clinician.middleware.RequireTwoFactorMiddleware",
]
AXES_MIDDLEWARE = "axes.middleware.AxesMiddleware"


def configure(settings_namespace: dict) -> None:
    """Add API_SETTINGS and AUTH_SETTINGS to a settings module's namespace where the host has not
    set them, and cyclecare's middleware to its MIDDLEWARE where missing."""
    import copy

    for name, value in API_SETTINGS.items():
        settings_namespace.setdefault(name, copy.deepcopy(value))
    for name, value in AUTH_SETTINGS.items():
        settings_namespace.setdefault(name, copy.deepcopy(value))
    _add_middleware(settings_namespace)


def _add_middleware(settings_namespace: dict) -> None:
    middleware = list(settings_namespace.get("MIDDLEWARE", []))
    after = [
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
    ]
    present = [middleware.index(name) for name in after if name in middleware]
    position = max(present) + 1 if present else len(middleware)
    for name in AUTH_MIDDLEWARE:
        if name in middleware:
            position = max(position, middleware.index(name) + 1)
        else:
            middleware.insert(position, name)
            position += 1
    if AXES_MIDDLEWARE not in middleware:
        middleware.append(AXES_MIDDLEWARE)
    settings_namespace["MIDDLEWARE"] = middleware
