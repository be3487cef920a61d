"""The backup procedure of the README ("Backups and restore"), run for real on PostgreSQL.

A dump taken with ``pg_dump --format=custom`` holds no plaintext of the encrypted PHI (a signed
note's sections, a check-in's answers, a cycle map's words), and restored with ``pg_restore`` into
a fresh database it reads back: every encrypted value decrypts with the configured keys
(``rotate_phi_keys --check``) and the note reads as written — through a separate process that
knows only the restored database's URL and the keys, as a restore on a new server would.
"""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from couples import services as couple_services
from cyclecare import services as cycle_services
from tests.factories import couple_with_partners, held_session

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.django_db(transaction=True)


def _tool(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, check=True)


@pytest.fixture
def pg_env(postgres) -> dict[str, str]:
    settings = connection.settings_dict
    env = dict(os.environ)
    env.update(
        PGHOST=settings["HOST"] or "127.0.0.1",
        PGPORT=str(settings["PORT"] or 5432),
        PGUSER=settings["USER"] or "postgres",
        PGPASSWORD=settings["PASSWORD"] or "",
    )
    return env


@pytest.fixture
def restored_name(pg_env):
    name = f"{connection.settings_dict['NAME']}_restore_{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["dropdb", "--if-exists", "--force", name], env=pg_env, capture_output=True, check=False)


def test_a_dump_holds_no_plaintext_phi_and_restores_with_the_keys(pg_env, restored_name, tmp_path):
    marker = f"backup-marker-{uuid.uuid4().hex}"
    couple, a, b = couple_with_partners()
    clinician = couple.primary_clinician
    session = held_session(couple)
    note = couple_services.note_create(
        user=clinician.user,
        session=session,
        data=f"data {marker}",
        assessment=f"assessment {marker}",
        plan=f"plan {marker}",
    )
    couple_services.note_sign(user=clinician.user, note=note)
    cycle_services.cycle_map_save(
        user=clinician.user,
        couple=couple,
        summary=f"loop {marker}",
        positions=[
            {"partner": a, "move": "pursue", "longing": f"to be seen {marker}"},
            {"partner": b, "move": "withdraw", "longing": f"to be safe {marker}"},
        ],
    )

    dump = tmp_path / "cyclecare.dump"
    database = connection.settings_dict["NAME"]
    _tool("pg_dump", "--format=custom", "--no-owner", f"--file={dump}", f"--dbname={database}", env=pg_env)

    # The dump, decompressed to SQL as pg_restore would run it: ciphertext, no plaintext.
    sql = _tool("pg_restore", "--file=-", str(dump), env=pg_env).stdout
    assert "clinician_sessionnote" in sql and "gAAAAA" in sql  # the note's row is there, as Fernet tokens
    assert marker not in sql, "plaintext PHI in the dump"

    _tool("createdb", restored_name, env=pg_env)
    _tool("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={restored_name}", str(dump), env=pg_env)

    url = "postgres://{PGUSER}:{PGPASSWORD}@{PGHOST}:{PGPORT}/".format(**pg_env) + restored_name
    django_env = {**pg_env, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    python = [sys.executable, str(ROOT / "manage.py")]
    checked = subprocess.run(
        [*python, "rotate_phi_keys", "--check"], env=django_env, cwd=ROOT, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stderr
    assert "decrypts with the configured keys" in checked.stdout
    read_back = subprocess.run(
        [
            *python,
            "shell",
            "--verbosity=0",
            "-c",
            f"from couples.models import SessionNote; n = SessionNote.objects.get(pk={note.pk}); "
            "print(n.data); print(n.is_signed)",
        ],
        env=django_env,
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert read_back.returncode == 0, read_back.stderr
    assert read_back.stdout.splitlines()[-2:] == [f"data {marker}", "True"]

    # Without the keys the restored rows are unreadable: the keys are the other half of a backup.
    wrong_keys = subprocess.run(
        [*python, "rotate_phi_keys", "--check"],
        env={**django_env, "DJANGO_SECRET_KEY": "another-key-" + "x" * 50},
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert wrong_keys.returncode != 0
