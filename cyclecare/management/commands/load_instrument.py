"""Load a licensed instrument a practice holds the rights to, from a JSON or YAML definition."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from clinician.models import Practice
from cyclecare import instrument_files, services


class Command(BaseCommand):
    help = (
        "Validate an instrument definition file (JSON or YAML) and add it to a practice as a new, "
        "immutable version. Errors name the line in the file; a bad file saves nothing. "
        "Item wording is never printed."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="The definition file (.json, .yaml or .yml).")
        parser.add_argument(
            "--practice", required=True, metavar="SLUG", help="The practice that holds the licence."
        )
        parser.add_argument(
            "--replace-inactive",
            action="store_true",
            help=(
                "Mark the practice's earlier versions of this instrument inactive: they stay for the "
                "check-ins and assignments that used them, but are no longer offered for new ones."
            ),
        )

    def handle(self, *args, path: str, practice: str, replace_inactive: bool, **options):
        file = Path(path)
        try:
            raw = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror or exc}.") from None
        try:
            text = instrument_files.decode_instrument_file(raw)
            spec = instrument_files.parse_instrument_file(text, filename=file.name)
        except ValidationError as exc:
            raise self._not_loaded(file, exc) from None
        holder = Practice.objects.filter(slug=practice).first()
        if holder is None:
            raise CommandError(f"No practice has the slug {practice!r}; nothing was saved.")
        try:
            result = services.instrument_load(spec, practice=holder, replace_inactive=replace_inactive)
        except ValidationError as exc:
            raise self._not_loaded(file, exc) from None
        instrument = result.instrument
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {instrument.name!r} ({instrument.code} v{instrument.version}) "
                f"for practice {holder.slug!r}."
            )
        )
        for line in instrument_files.summarise(instrument.definition):
            self.stdout.write(f"  {line}")
        for old in result.deactivated:
            self.stdout.write(f"  {old.code} v{old.version} is now inactive (replaced).")

    @staticmethod
    def _not_loaded(file: Path, exc: ValidationError) -> CommandError:
        problems = "\n".join(f"  {message}" for message in exc.messages)
        return CommandError(f"{file.name} was not loaded; nothing was saved.\n{problems}")
