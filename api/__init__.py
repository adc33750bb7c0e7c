"""The REST API (``/api/v1/``): DRF viewsets over studies, sites, cases, sessions, reads, model
versions, inference jobs, predictions and study reports (with their PDF and export files),
scoped by study role (see :mod:`api.permissions`); read-only except asking for a
report. The reader-facing reading API stays at ``/api/reading/``."""
