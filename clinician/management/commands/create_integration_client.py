"""Create an OAuth2 client-credentials client bound to one practice.

    python manage.py create_integration_client --practice northstar --name "Billing sync" --scopes read,write

The last line printed is one JSON object with the client id and secret. The secret is shown
once: only its hash is stored.
"""

import json
import secrets

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from oauth2_provider.models import get_application_model
from oauth2_provider.settings import oauth2_settings

from clinician.audit import audit_record
from clinician.models import IntegrationClient, Practice


class Command(BaseCommand):
    help = "Create an integration client (OAuth2 client credentials) for one practice."

    def add_arguments(self, parser):
        parser.add_argument("--practice", required=True, help="The practice's slug.")
        parser.add_argument("--name", required=True, help="A name the practice recognises.")
        parser.add_argument(
            "--scopes", default="read", help="Comma-separated: " + ", ".join(oauth2_settings.SCOPES)
        )

    def handle(self, *args, **options):
        name = options["name"].strip()
        if not name or len(name) > 120:
            raise CommandError("--name must be 1 to 120 characters.")
        scopes = [scope.strip() for scope in options["scopes"].split(",") if scope.strip()]
        unknown = sorted(set(scopes) - set(oauth2_settings.SCOPES))
        if not scopes or unknown:
            raise CommandError(
                f"Unknown scope(s) {', '.join(unknown) or '(none given)'}; "
                f"known: {', '.join(oauth2_settings.SCOPES)}."
            )
        practice = Practice.objects.filter(slug=options["practice"]).first()
        if practice is None:
            raise CommandError(f"No practice with slug {options['practice']!r}.")
        secret = secrets.token_urlsafe(40)
        Application = get_application_model()
        with transaction.atomic():
            application = Application.objects.create(
                name=f"{practice.slug}: {name}",
                client_type=Application.CLIENT_CONFIDENTIAL,
                authorization_grant_type=Application.GRANT_CLIENT_CREDENTIALS,
                client_secret=secret,
            )
            client = IntegrationClient.objects.create(
                application=application, practice=practice, name=name, scopes=" ".join(scopes)
            )
            audit_record(actor=None, action="integration_client.create", target=client)
        self.stdout.write(
            f"Created integration client {name!r} for {practice.name}. "
            "Keep the secret safe; it is shown once."
        )
        self.stdout.write(
            json.dumps(
                {
                    "client_id": application.client_id,
                    "client_secret": secret,
                    "practice": practice.slug,
                    "scopes": scopes,
                }
            )
        )
