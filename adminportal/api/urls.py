"""Admin API routes, mounted at /api/v1/admin/ inside the ``api`` namespace."""

from django.urls import path

from adminportal.api import compute_views, gallery_views, views

urlpatterns = [
    path("tenants/", views.AdminTenantListApi.as_view(), name="admin-tenant-list"),
    path("tenants/<uuid:pk>/", views.AdminTenantDetailApi.as_view(), name="admin-tenant-detail"),
    path("tenants/<uuid:pk>/disable/", views.AdminTenantDisableApi.as_view(), name="admin-tenant-disable"),
    path("tenants/<uuid:pk>/enable/", views.AdminTenantEnableApi.as_view(), name="admin-tenant-enable"),
    path("users/", views.AdminUserListApi.as_view(), name="admin-user-list"),
    path("users/<uuid:pk>/", views.AdminUserDetailApi.as_view(), name="admin-user-detail"),
    path("users/<uuid:pk>/deactivate/", views.AdminUserDeactivateApi.as_view(), name="admin-user-deactivate"),
    path("users/<uuid:pk>/activate/", views.AdminUserActivateApi.as_view(), name="admin-user-activate"),
    path("plans/", views.AdminPlanListApi.as_view(), name="admin-plan-list"),
    path("plans/<uuid:pk>/", views.AdminPlanDetailApi.as_view(), name="admin-plan-detail"),
    path("addons/", views.AdminAddOnListApi.as_view(), name="admin-addon-list"),
    path("addons/<uuid:pk>/", views.AdminAddOnDetailApi.as_view(), name="admin-addon-detail"),
    path("subscriptions/", views.AdminSubscriptionListApi.as_view(), name="admin-subscription-list"),
    path(
        "subscriptions/<uuid:pk>/",
        views.AdminSubscriptionDetailApi.as_view(),
        name="admin-subscription-detail",
    ),
    path(
        "subscriptions/<uuid:pk>/suspend/",
        views.AdminSubscriptionSuspendApi.as_view(),
        name="admin-subscription-suspend",
    ),
    path(
        "subscriptions/<uuid:pk>/reactivate/",
        views.AdminSubscriptionReactivateApi.as_view(),
        name="admin-subscription-reactivate",
    ),
    path(
        "subscriptions/<uuid:pk>/cancel/",
        views.AdminSubscriptionCancelApi.as_view(),
        name="admin-subscription-cancel",
    ),
    path("activity/", views.AdminActivityListApi.as_view(), name="admin-activity-list"),
    # --- gallery (adminportal/api/gallery_views.py) ---
    path("gallery/items/", gallery_views.AdminGalleryItemListApi.as_view(), name="admin-gallery-item-list"),
    path(
        "gallery/items/<uuid:pk>/",
        gallery_views.AdminGalleryItemDetailApi.as_view(),
        name="admin-gallery-item-detail",
    ),
    path(
        "gallery/items/<uuid:pk>/export/",
        gallery_views.AdminGalleryItemExportApi.as_view(),
        name="admin-gallery-item-export",
    ),
    path(
        "gallery/items/<uuid:pk>/plans/<uuid:plan_pk>/",
        gallery_views.AdminGalleryItemPlanApi.as_view(),
        name="admin-gallery-item-plan",
    ),
    path(
        "gallery/items/<uuid:pk>/versions/",
        gallery_views.AdminGalleryVersionCreateApi.as_view(),
        name="admin-gallery-version-create",
    ),
    path(
        "gallery/items/<uuid:pk>/versions/<uuid:version_pk>/",
        gallery_views.AdminGalleryVersionDetailApi.as_view(),
        name="admin-gallery-version-detail",
    ),
    path(
        "gallery/items/<uuid:pk>/versions/<uuid:version_pk>/publish/",
        gallery_views.AdminGalleryVersionPublishApi.as_view(),
        name="admin-gallery-version-publish",
    ),
    path(
        "gallery/items/<uuid:pk>/versions/<uuid:version_pk>/unpublish/",
        gallery_views.AdminGalleryVersionUnpublishApi.as_view(),
        name="admin-gallery-version-unpublish",
    ),
    path(
        "gallery/items/<uuid:pk>/versions/<uuid:version_pk>/deprecate/",
        gallery_views.AdminGalleryVersionDeprecateApi.as_view(),
        name="admin-gallery-version-deprecate",
    ),
    path("gallery/import/", gallery_views.AdminGalleryImportApi.as_view(), name="admin-gallery-import"),
    path("vm-sizes/", gallery_views.AdminVmSizeListApi.as_view(), name="admin-vm-size-list"),
    path("vm-sizes/<uuid:pk>/", gallery_views.AdminVmSizeDetailApi.as_view(), name="admin-vm-size-detail"),
    path(
        "vm-sizes/<uuid:pk>/plans/<uuid:plan_pk>/",
        gallery_views.AdminVmSizePlanApi.as_view(),
        name="admin-vm-size-plan",
    ),
    # --- provisioning (adminportal/api/compute_views.py) ---
    path("hosts/", compute_views.AdminHostListApi.as_view(), name="admin-host-list"),
    path("hosts/<uuid:pk>/", compute_views.AdminHostDetailApi.as_view(), name="admin-host-detail"),
    path("hosts/<uuid:pk>/state/", compute_views.AdminHostStateApi.as_view(), name="admin-host-state"),
    path("jobs/", compute_views.AdminJobListApi.as_view(), name="admin-job-list"),
    path("jobs/<uuid:pk>/", compute_views.AdminJobDetailApi.as_view(), name="admin-job-detail"),
    path("jobs/<uuid:pk>/retry/", compute_views.AdminJobRetryApi.as_view(), name="admin-job-retry"),
    path("jobs/<uuid:pk>/cancel/", compute_views.AdminJobCancelApi.as_view(), name="admin-job-cancel"),
]
