"""Tenant compute API routes, included by portal/api/urls.py into the ``api`` namespace."""

from django.urls import path

from compute.api import views

urlpatterns = [
    path("deployments/", views.DeploymentListApi.as_view(), name="deployment-list"),
    path("deployments/<uuid:pk>/", views.DeploymentDetailApi.as_view(), name="deployment-detail"),
    path("deployments/<uuid:pk>/scale/", views.DeploymentScaleApi.as_view(), name="deployment-scale"),
    path("vms/", views.VmListApi.as_view(), name="vm-list"),
    path("vms/<uuid:pk>/", views.VmDetailApi.as_view(), name="vm-detail"),
    path("vms/<uuid:pk>/start/", views.VmStartApi.as_view(), name="vm-start"),
    path("vms/<uuid:pk>/shutdown/", views.VmShutdownApi.as_view(), name="vm-shutdown"),
    path("vms/<uuid:pk>/power-off/", views.VmPowerOffApi.as_view(), name="vm-power-off"),
    path("vms/<uuid:pk>/reset/", views.VmResetApi.as_view(), name="vm-reset"),
    path("jobs/", views.JobListApi.as_view(), name="job-list"),
    path("jobs/<uuid:pk>/", views.JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:pk>/cancel/", views.JobCancelApi.as_view(), name="job-cancel"),
]
