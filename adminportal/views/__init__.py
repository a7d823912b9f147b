"""Views of the service admin portal (/manage/). Every view is behind ``@service_admin_view``:
anonymous visitors are sent to sign in, tenant users get 403. Writes go through services."""

from adminportal.views.activity import activity
from adminportal.views.overview import overview
from adminportal.views.plans import addon_create, addon_edit, plan_create, plan_detail, plan_edit, plan_list
from adminportal.views.subscriptions import (
    subscription_cancel,
    subscription_create,
    subscription_detail,
    subscription_list,
    subscription_reactivate,
    subscription_suspend,
)
from adminportal.views.tenants import tenant_create, tenant_detail, tenant_disable, tenant_enable, tenant_list
from adminportal.views.users import user_activate, user_create, user_deactivate, user_detail, user_list

__all__ = [
    "activity",
    "addon_create",
    "addon_edit",
    "overview",
    "plan_create",
    "plan_detail",
    "plan_edit",
    "plan_list",
    "subscription_cancel",
    "subscription_create",
    "subscription_detail",
    "subscription_list",
    "subscription_reactivate",
    "subscription_suspend",
    "tenant_create",
    "tenant_detail",
    "tenant_disable",
    "tenant_enable",
    "tenant_list",
    "user_activate",
    "user_create",
    "user_deactivate",
    "user_detail",
    "user_list",
]
