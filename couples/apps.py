from django.apps import AppConfig


class CouplesConfig(AppConfig):
    name = "couples"
    verbose_name = "Couples and partners"
    default_auto_field = "django.db.models.BigAutoField"
