"""django-oauth-toolkit scopes backend: each integration client may be granted only the scopes
recorded on its IntegrationClient row (asking for no scope grants all of them)."""

from oauth2_provider.scopes import SettingsScopes

from clinician.models import IntegrationClient


class IntegrationClientScopes(SettingsScopes):
    def _client_scopes(self, application) -> list[str]:
        if application is None:
            return []
        client = IntegrationClient.objects.filter(application=application, is_active=True).first()
        if client is None:
            return []
        known = set(self.get_all_scopes())
        return [scope for scope in client.scopes.split() if scope in known]

    def get_available_scopes(self, application=None, request=None, *args, **kwargs):
        return self._client_scopes(application)

    def get_default_scopes(self, application=None, request=None, *args, **kwargs):
        return self._client_scopes(application)
