"""cyclecare installs into a fresh `startproject` site exactly as README.md instructs."""

import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# README.md, "Adding cyclecare to an existing Django project".
SETTINGS_ADDITIONS = """

# cyclecare
import cyclecare.plugin

INSTALLED_APPS += cyclecare.plugin.INSTALLED_APPS
cyclecare.plugin.configure(globals())
SALT_KEY = ["host-site-field-encryption-salt"]
CELERY_BROKER_URL = "memory://"
CYCLECARE = {}
"""

URLS = """\
from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

admin.site.login = secure_admin_login(admin.site.login)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("", include("cyclecare.urls")),
]
"""


def _host_env(host_dir: Path) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        # The host uses its own SQLite database and settings, not this repository's.
        if key not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "PYTHONPATH"}
    }
    env["PYTHONPATH"] = os.pathsep.join([str(host_dir), str(REPO_ROOT)])
    env["DJANGO_SETTINGS_MODULE"] = "hostsite.settings"
    return env


def _run(args: list[str], *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def test_fresh_host_project_migrates_and_checks(tmp_path: Path) -> None:
    env = _host_env(tmp_path / "hostsite")
    created = _run(["-m", "django", "startproject", "hostsite"], cwd=tmp_path, env=env)
    assert created.returncode == 0, created.stderr

    host_dir = tmp_path / "hostsite"
    settings_path = host_dir / "hostsite" / "settings.py"
    settings_path.write_text(settings_path.read_text() + SETTINGS_ADDITIONS)
    (host_dir / "hostsite" / "urls.py").write_text(URLS)

    migrated = _run(["manage.py", "migrate", "--noinput"], cwd=host_dir, env=env)
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    assert (host_dir / "db.sqlite3").exists()

    checked = _run(["manage.py", "check"], cwd=host_dir, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr

    resolved = _run(
        ["manage.py", "shell", "-c", "from django.urls import reverse; print(reverse('cyclecare:healthz'))"],
        cwd=host_dir,
        env=env,
    )
    assert resolved.returncode == 0, resolved.stderr
    assert resolved.stdout.strip().splitlines()[-1] == "/healthz"

    # Clinician sign-in (allauth, two-factor on by default) is wired in.
    signin = _run(
        [
            "manage.py",
            "shell",
            "-c",
            "from django.test import Client; from django.urls import reverse; "
            "print(Client(HTTP_HOST='localhost').get('/admin/login/?next=/admin/')['Location'], "
            "reverse('mfa_activate_totp'))",
        ],
        cwd=host_dir,
        env=env,
    )
    assert signin.returncode == 0, signin.stderr
    assert signin.stdout.strip().splitlines()[-1] == (
        "/accounts/login/?next=%2Fadmin%2F /accounts/2fa/totp/activate/"
    )
