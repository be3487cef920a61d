"""Re-encrypt every encrypted PHI column with the current first key.

Rotation: put the new salt first in FIELD_ENCRYPTION_SALTS (or a new DJANGO_SECRET_KEY with the
old one in DJANGO_SECRET_KEY_FALLBACKS), deploy, run this command, then drop the old value.
A value that no configured key can decrypt stops the command before anything is written.
"""

from cryptography.fernet import InvalidToken
from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.db.models import TextField
from django.db.models.functions import Cast
from encrypted_fields.fields import EncryptedFieldMixin

BATCH = 500


def encrypted_columns() -> list[tuple[type, list]]:
    found = []
    for model in apps.get_models():
        fields = [f for f in model._meta.concrete_fields if isinstance(f, EncryptedFieldMixin)]
        if fields:
            found.append((model, fields))
    return found


class Command(BaseCommand):
    help = "Re-encrypt PHI columns with the first configured key (run after adding a new key)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Only verify every value decrypts.")

    def handle(self, *args, **options):
        columns = encrypted_columns()
        self._verify(columns)
        if options["check"]:
            self.stdout.write("Every encrypted value decrypts with the configured keys.")
            return
        total = 0
        for model, fields in columns:
            names = [f.name for f in fields]
            manager = model._base_manager
            pks = list(manager.order_by("pk").values_list("pk", flat=True))
            for start in range(0, len(pks), BATCH):
                with transaction.atomic():
                    if connection.vendor == "postgresql":
                        # Lets the signed-note and addendum triggers accept a re-encryption.
                        with connection.cursor() as cursor:
                            cursor.execute("SET LOCAL cyclecare.reencrypt = 'on'")
                    for row in manager.filter(pk__in=pks[start : start + BATCH]).only("pk", *names):
                        manager.filter(pk=row.pk).update(**{name: getattr(row, name) for name in names})
                        total += 1
            self.stdout.write(f"{model._meta.label}: {len(pks)} rows re-encrypted ({', '.join(names)})")
        self.stdout.write(self.style.SUCCESS(f"Done: {total} rows."))

    def _verify(self, columns) -> None:
        bad = []
        for model, fields in columns:
            for field in fields:
                raw = model._base_manager.exclude(**{f"{field.name}__isnull": True}).annotate(
                    _raw=Cast(field.name, TextField())
                )
                for pk, value in raw.values_list("pk", "_raw").iterator():
                    try:
                        field.f.decrypt(value.encode())
                    except (InvalidToken, AttributeError, ValueError):
                        bad.append(f"{model._meta.label}#{pk}.{field.name}")
        if bad:
            shown = ", ".join(bad[:20])
            raise CommandError(f"{len(bad)} values do not decrypt with the configured keys: {shown}")
