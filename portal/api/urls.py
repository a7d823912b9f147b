"""The REST API, /api/v1/ (namespace ``api``). Each app keeps its routes in ``<app>/api/urls.py``;
route names are flat (``api:subscription-list``, ``api:admin-plan-detail``)."""

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("tenants.api.urls")),
    path("", include("subscriptions.api.urls")),
    path("", include("gallery.api.urls")),
    path("", include("compute.api.urls")),
    path("admin/", include("adminportal.api.urls")),
]
