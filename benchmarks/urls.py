"""The portal's URLs plus the benchmark's reference views under ``/bench/``."""

from django.urls import path

from benchmarks import reference_views
from portal.urls import urlpatterns as portal_urlpatterns

urlpatterns = [
    path("bench/floor/", reference_views.floor, name="bench-floor"),
    path(
        "bench/raw/<uuid:tenant_id>/subscriptions/",
        reference_views.raw_subscriptions,
        name="bench-raw-subscriptions",
    ),
    path("bench/raw/<uuid:tenant_id>/vms/", reference_views.raw_vms, name="bench-raw-vms"),
    *portal_urlpatterns,
]
