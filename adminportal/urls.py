"""The service admin portal, mounted at /manage/ (namespace ``adminportal``)."""

from django.urls import path

from adminportal import views

app_name = "adminportal"

urlpatterns = [
    path("", views.overview, name="overview"),
    path("tenants/", views.tenant_list, name="tenants"),
    path("tenants/new/", views.tenant_create, name="tenant_create"),
    path("tenants/<uuid:pk>/", views.tenant_detail, name="tenant_detail"),
    path("tenants/<uuid:pk>/disable/", views.tenant_disable, name="tenant_disable"),
    path("tenants/<uuid:pk>/enable/", views.tenant_enable, name="tenant_enable"),
    path("users/", views.user_list, name="users"),
    path("users/new/", views.user_create, name="user_create"),
    path("users/<uuid:pk>/", views.user_detail, name="user_detail"),
    path("users/<uuid:pk>/deactivate/", views.user_deactivate, name="user_deactivate"),
    path("users/<uuid:pk>/activate/", views.user_activate, name="user_activate"),
    path("plans/", views.plan_list, name="plans"),
    path("plans/new/", views.plan_create, name="plan_create"),
    path("plans/<uuid:pk>/", views.plan_detail, name="plan_detail"),
    path("plans/<uuid:pk>/edit/", views.plan_edit, name="plan_edit"),
    path("addons/new/", views.addon_create, name="addon_create"),
    path("addons/<uuid:pk>/edit/", views.addon_edit, name="addon_edit"),
    path("subscriptions/", views.subscription_list, name="subscriptions"),
    path("subscriptions/new/", views.subscription_create, name="subscription_create"),
    path("subscriptions/<uuid:pk>/", views.subscription_detail, name="subscription_detail"),
    path("subscriptions/<uuid:pk>/suspend/", views.subscription_suspend, name="subscription_suspend"),
    path(
        "subscriptions/<uuid:pk>/reactivate/", views.subscription_reactivate, name="subscription_reactivate"
    ),
    path("subscriptions/<uuid:pk>/cancel/", views.subscription_cancel, name="subscription_cancel"),
    path("gallery/", views.gallery_items, name="gallery"),
    path("gallery/new/", views.gallery_item_create, name="gallery_item_create"),
    path("gallery/import/", views.gallery_import, name="gallery_import"),
    path("gallery/<uuid:pk>/", views.gallery_item_detail, name="gallery_item_detail"),
    path("gallery/<uuid:pk>/edit/", views.gallery_item_edit, name="gallery_item_edit"),
    path("gallery/<uuid:pk>/export/", views.gallery_item_export, name="gallery_item_export"),
    path("gallery/<uuid:pk>/plans/attach/", views.gallery_item_plan_attach, name="gallery_item_plan_attach"),
    path(
        "gallery/<uuid:pk>/plans/<uuid:plan_pk>/detach/",
        views.gallery_item_plan_detach,
        name="gallery_item_plan_detach",
    ),
    path("gallery/<uuid:pk>/versions/new/", views.gallery_version_create, name="gallery_version_create"),
    path(
        "gallery/<uuid:pk>/versions/<uuid:version_pk>/edit/",
        views.gallery_version_edit,
        name="gallery_version_edit",
    ),
    path(
        "gallery/<uuid:pk>/versions/<uuid:version_pk>/delete/",
        views.gallery_version_delete,
        name="gallery_version_delete",
    ),
    path(
        "gallery/<uuid:pk>/versions/<uuid:version_pk>/publish/",
        views.gallery_version_publish,
        name="gallery_version_publish",
    ),
    path(
        "gallery/<uuid:pk>/versions/<uuid:version_pk>/unpublish/",
        views.gallery_version_unpublish,
        name="gallery_version_unpublish",
    ),
    path(
        "gallery/<uuid:pk>/versions/<uuid:version_pk>/deprecate/",
        views.gallery_version_deprecate,
        name="gallery_version_deprecate",
    ),
    path(
        "gallery/<uuid:pk>/versions/<uuid:version_pk>/preview/",
        views.gallery_version_preview,
        name="gallery_version_preview",
    ),
    path(
        "gallery/<uuid:pk>/versions/<uuid:version_pk>/preview/fields/",
        views.gallery_version_preview_fields,
        name="gallery_version_preview_fields",
    ),
    path("sizes/", views.vm_sizes, name="vm_sizes"),
    path("sizes/new/", views.vm_size_create, name="vm_size_create"),
    path("sizes/<uuid:pk>/edit/", views.vm_size_edit, name="vm_size_edit"),
    path("sizes/<uuid:pk>/plans/attach/", views.vm_size_plan_attach, name="vm_size_plan_attach"),
    path(
        "sizes/<uuid:pk>/plans/<uuid:plan_pk>/detach/", views.vm_size_plan_detach, name="vm_size_plan_detach"
    ),
    path("hosts/", views.hosts, name="hosts"),
    path("hosts/new/", views.host_create, name="host_create"),
    path("hosts/<uuid:pk>/", views.host_detail, name="host_detail"),
    path("hosts/<uuid:pk>/state/", views.host_state, name="host_state"),
    path("hosts/<uuid:pk>/refresh/", views.host_refresh, name="host_refresh"),
    path("hosts/<uuid:pk>/delete/", views.host_delete, name="host_delete"),
    path("jobs/", views.jobs, name="jobs"),
    path("jobs/<uuid:pk>/", views.job_detail, name="job_detail"),
    path("jobs/<uuid:pk>/retry/", views.job_retry, name="job_retry"),
    path("jobs/<uuid:pk>/cancel/", views.job_cancel, name="job_cancel"),
    path("activity/", views.activity, name="activity"),
]
