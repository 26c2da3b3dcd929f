"""Code shared by every Strata service: settings, database, Celery factory and the step engine."""
