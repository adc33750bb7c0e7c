"""The REST API (``/api/v1/``): read-only DRF viewsets over studies, sites, cases, sessions,
reads, model versions, inference jobs and predictions, scoped by study role (see
:mod:`readers.rest.permissions`). The reader-facing reading API stays at ``/api/reading/``."""
