"""Admin API routes, mounted at /api/v1/admin/ inside the ``api`` namespace."""

from django.urls import path

from adminportal.api import views

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
]
