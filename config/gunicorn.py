"""gunicorn's settings for serving cyclecare: ``gunicorn -c config/gunicorn.py`` from the
repository's root (``--workers``, ``--bind`` or ``$PORT``/``$WEB_CONCURRENCY`` as usual).

Access lines go to stdout with partner-link tokens and query strings redacted: gunicorn's
access line holds the request line, the path, the query string and the Referer (a partner's
next request names the check-in page it came from), and its error lines name the request too
("Error handling request /p/c/<token>/"). The logger class puts cyclecare's redaction filter
on gunicorn's own two loggers, so every record they make is redacted before any handler —
gunicorn's, or a --log-config's — sees it, whether or not the Django app is loaded yet.
"""

from gunicorn.glogging import Logger

from clinician.logging import RedactSecretsFilter

wsgi_app = "config.wsgi:application"
accesslog = "-"


class RedactingLogger(Logger):
    """gunicorn's logger, with every error and access record redacted."""

    def setup(self, cfg):
        super().setup(cfg)  # runs again on a configuration reload (HUP)
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, RedactSecretsFilter) for existing in log.filters):
                log.addFilter(RedactSecretsFilter())


logger_class = RedactingLogger
