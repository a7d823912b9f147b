"""Tenant portal pages for deployments, virtual machines and jobs (namespace ``compute``)."""

from django.urls import path

from compute import views

app_name = "compute"

urlpatterns = [
    path("deployments/", views.deployment_index, name="deployments"),
    path("deployments/<uuid:pk>/", views.deployment_detail, name="deployment"),
    path("deployments/<uuid:pk>/row/", views.deployment_row, name="deployment-row"),
    path("deployments/<uuid:pk>/scale/", views.deployment_scale, name="deployment-scale"),
    path("deployments/<uuid:pk>/delete/", views.deployment_delete, name="deployment-delete"),
    path("vms/", views.vm_index, name="vms"),
    path("vms/bulk/", views.vms_bulk, name="vms-bulk"),
    path("vms/<uuid:pk>/", views.vm_detail, name="vm"),
    path("vms/<uuid:pk>/row/", views.vm_row, name="vm-row"),
    path("vms/<uuid:pk>/actions/<slug:action>/", views.vm_action, name="vm-action"),
    path("jobs/", views.job_index, name="jobs"),
    path("jobs/<uuid:pk>/", views.job_detail, name="job"),
    path("jobs/<uuid:pk>/progress/", views.job_progress, name="job-progress"),
    path("jobs/<uuid:pk>/cancel/", views.job_cancel, name="job-cancel"),
]
