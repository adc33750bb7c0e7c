from django.apps import AppConfig


class StudiesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "studies"
    verbose_name = "Studies, sites and cases"

    def ready(self) -> None:
        from studies import checks  # noqa: F401 - registers the database check
