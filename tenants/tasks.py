from celery import shared_task


@shared_task(queue="default")
def expire_invitations_task() -> int:
    from tenants.services import expire_invitations

    return expire_invitations()


@shared_task(queue="default")
def purge_old_access_attempts_task() -> None:
    """Keep django-axes' table small: failures older than the cool-off no longer matter."""
    from axes.models import AccessAttempt
    from django.conf import settings
    from django.utils import timezone

    AccessAttempt.objects.filter(attempt_time__lt=timezone.now() - settings.AXES_COOLOFF_TIME * 4).delete()
