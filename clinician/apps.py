from django.apps import AppConfig


class ClinicianConfig(AppConfig):
    name = "clinician"
    verbose_name = "Practices and clinicians"
    default_auto_field = "django.db.models.BigAutoField"
