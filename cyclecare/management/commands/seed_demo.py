"""Seed the demo practices (``make run`` calls this): idempotent, deterministic, relative to today."""

from django.core.management.base import BaseCommand

from cyclecare import demo


class Command(BaseCommand):
    help = (
        "Create the demo practices, clinicians and couples with eight weeks of history ending today, "
        "then print the demo logins. Does nothing if the demo practice already exists."
    )

    def handle(self, *args, **options):
        if demo.demo_present():
            self.stdout.write(f"Demo data already present (practice '{demo.DEMO_SLUG}'); nothing changed.")
        else:
            result = demo.seed()
            counts = ", ".join(f"{name} {count}" for name, count in result.counts.items())
            self.stdout.write(self.style.SUCCESS(f"Seeded the demo in {result.seconds:.1f} s — {counts}."))
        self._print_logins()

    def _print_logins(self) -> None:
        logins = demo.demo_logins()
        rows = [("email", "password", "role", "practice")] + [
            (login.email, demo.DEMO_PASSWORD, login.role, login.practice) for login in logins
        ]
        widths = [max(len(row[i]) for row in rows) for i in range(4)]
        self.stdout.write("")
        site = demo.admin_url().removesuffix("admin/")
        self.stdout.write(
            f"Demo logins. Clinicians sign in to the clinic at {site} (two-factor is off in the"
            " local demo; a banner says so);"
        )
        self.stdout.write(f"the operator and the practice admin also use the admin at {demo.admin_url()}.")
        for index, row in enumerate(rows):
            cells = (cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            self.stdout.write(("  " + "  ".join(cells)).rstrip())
            if index == 0:
                self.stdout.write("  " + "  ".join("-" * width for width in widths))
