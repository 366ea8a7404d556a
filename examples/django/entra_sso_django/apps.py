from django.apps import AppConfig


class EntraSSOConfig(AppConfig):
    name = "entra_sso_django"
    label = "entra_sso_django"
    verbose_name = "entra-sso"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        # Refuse a bad ENTRA_SSO setting at start-up, not at the first request.
        from .conf import get_config

        get_config()
