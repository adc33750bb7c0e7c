from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo story (``setup_demo``) and its SIMULATED reader panel: no models of its own."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "demo"
    verbose_name = "Demo"
