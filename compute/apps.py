from django.apps import AppConfig


class ComputeConfig(AppConfig):
    name = "compute"
    verbose_name = "Compute"

    def ready(self) -> None:
        # Job handlers and the subscription listener register themselves on import.
        from compute import jobs, receivers  # noqa: F401
