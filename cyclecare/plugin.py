"""What a host Django project adds to run cyclecare inside it.

In the host's settings::

    import cyclecare.plugin

    INSTALLED_APPS += cyclecare.plugin.INSTALLED_APPS

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
    "clinician",
    "couples",
    "cyclecare",
]
