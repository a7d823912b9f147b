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
    path("activity/", views.activity, name="activity"),
]
