"""Who may reach each route. Every URL pattern and API route must be listed here.

- PUBLIC: anyone, signed in or not.
- AUTH: any signed-in user; touches no tenant's data.
- TENANT: the current tenant's data, no object id in the URL (lists, dashboards, creates).
- Obj(param=attribute): tenant data addressed by id; ``attribute`` names the Acme object in
  ``tests.ownership.world.World`` whose id the attacker sends. Must answer 404 to others.
- ADMIN: service admins only.
"""

from __future__ import annotations

PUBLIC = "public"
AUTH = "authenticated"
TENANT = "tenant"
ADMIN = "admin"


class Obj:
    """``control=False``: the object's own tenant cannot GET it through this route either (a
    private plan assigned to Acme is not in the public plan catalogue), so the positive
    control is skipped; the 404 for others still holds."""

    def __init__(self, control: bool = True, **params: str) -> None:
        self.params = params
        self.control = control

    def values(self, world) -> dict[str, str]:
        out = {}
        for param, attribute in self.params.items():
            value = getattr(world, attribute)
            out[param] = value if isinstance(value, str) else str(value.pk)
        return out

    def __repr__(self) -> str:
        return f"Obj({self.params})"


# Django's own admin site (only mounted with DEBUG, a debugging aid for staff users) is one
# block: every route under it requires is_staff, which no tenant user or service admin has
# unless granted by hand.
PREFIX_RULES: dict[str, str] = {"django-admin/": "django-admin"}

MATRIX: dict[str, object] = {
    "home": PUBLIC,
    "healthz": PUBLIC,
    "api-schema": PUBLIC,
    "api-docs": PUBLIC,
    "login": PUBLIC,
    "logout": AUTH,
    "signup": PUBLIC,
    "password_reset": PUBLIC,
    "password_reset_done": PUBLIC,
    "password_reset_confirm": PUBLIC,
    "password_reset_complete": PUBLIC,
    # The link's token is the secret; tested in tests/tenants/test_views.py.
    "tenants:invitation": PUBLIC,
    "password_change": AUTH,
    "password_change_done": AUTH,
    "tenants:onboarding": AUTH,
    # --- tenant portal ---
    "tenants:dashboard": TENANT,
    "tenants:switch": TENANT,
    "tenants:create": TENANT,
    "tenants:team": TENANT,
    "tenants:invitation_create": TENANT,
    "tenants:tokens": TENANT,
    "tenants:activity": TENANT,
    "tenants:member_role": Obj(pk="bob_membership"),
    "tenants:member_remove": Obj(pk="bob_membership"),
    "tenants:invitation_revoke": Obj(pk="acme_invitation"),
    "tenants:token_revoke": Obj(pk="acme_token"),
    "subscriptions:list": TENANT,
    "subscriptions:plans": TENANT,
    "subscriptions:detail": Obj(pk="acme_subscription"),
    "subscriptions:rename": Obj(pk="acme_subscription"),
    "subscriptions:cancel": Obj(pk="acme_subscription"),
    "subscriptions:addon_add": Obj(pk="acme_subscription"),
    "subscriptions:addon_remove": Obj(pk="acme_subscription", addon_pk="addon"),
    # --- tenant gallery ---
    "gallery:list": TENANT,
    "gallery:detail": Obj(pk="acme_gallery_item"),
    "gallery:deploy": Obj(pk="acme_gallery_item", version_pk="acme_gallery_version"),
    "gallery:deploy-fields": Obj(pk="acme_gallery_item", version_pk="acme_gallery_version"),
    "api:gallery-item-list": TENANT,
    "api:gallery-item-detail": Obj(pk="acme_gallery_item"),
    "api:gallery-version-detail": Obj(pk="acme_gallery_item", version_pk="acme_gallery_version"),
    "api:gallery-version-validate": Obj(pk="acme_gallery_item", version_pk="acme_gallery_version"),
    # --- tenant compute: deployments, VMs, jobs ---
    "compute:deployments": TENANT,
    "compute:deployment": Obj(pk="acme_deployment"),
    "compute:deployment-row": Obj(pk="acme_deployment"),
    "compute:deployment-scale": Obj(pk="acme_deployment"),
    "compute:deployment-delete": Obj(pk="acme_deployment"),
    "compute:vms": TENANT,
    "compute:vms-bulk": TENANT,
    "compute:vm": Obj(pk="acme_vm"),
    "compute:vm-row": Obj(pk="acme_vm"),
    "compute:vm-action": Obj(pk="acme_vm", action="acme_vm_action"),
    "compute:jobs": TENANT,
    "compute:job": Obj(pk="acme_job"),
    "compute:job-progress": Obj(pk="acme_job"),
    "compute:job-cancel": Obj(pk="acme_job"),
    "api:deployment-list": TENANT,
    "api:deployment-detail": Obj(pk="acme_deployment"),
    "api:deployment-scale": Obj(pk="acme_deployment"),
    "api:vm-list": TENANT,
    "api:vm-detail": Obj(pk="acme_vm"),
    "api:vm-start": Obj(pk="acme_vm"),
    "api:vm-shutdown": Obj(pk="acme_vm"),
    "api:vm-power-off": Obj(pk="acme_vm"),
    "api:vm-reset": Obj(pk="acme_vm"),
    "api:job-list": TENANT,
    "api:job-detail": Obj(pk="acme_job"),
    "api:job-cancel": Obj(pk="acme_job"),
    # --- admin portal: service admins only ---
    "adminportal:overview": ADMIN,
    "adminportal:tenants": ADMIN,
    "adminportal:tenant_create": ADMIN,
    "adminportal:tenant_detail": ADMIN,
    "adminportal:tenant_disable": ADMIN,
    "adminportal:tenant_enable": ADMIN,
    "adminportal:users": ADMIN,
    "adminportal:user_create": ADMIN,
    "adminportal:user_detail": ADMIN,
    "adminportal:user_deactivate": ADMIN,
    "adminportal:user_activate": ADMIN,
    "adminportal:plans": ADMIN,
    "adminportal:plan_create": ADMIN,
    "adminportal:plan_detail": ADMIN,
    "adminportal:plan_edit": ADMIN,
    "adminportal:addon_create": ADMIN,
    "adminportal:addon_edit": ADMIN,
    "adminportal:subscriptions": ADMIN,
    "adminportal:subscription_create": ADMIN,
    "adminportal:subscription_detail": ADMIN,
    "adminportal:subscription_suspend": ADMIN,
    "adminportal:subscription_reactivate": ADMIN,
    "adminportal:subscription_cancel": ADMIN,
    "adminportal:activity": ADMIN,
    "adminportal:gallery": ADMIN,
    "adminportal:gallery_item_create": ADMIN,
    "adminportal:gallery_import": ADMIN,
    "adminportal:gallery_item_detail": ADMIN,
    "adminportal:gallery_item_edit": ADMIN,
    "adminportal:gallery_item_export": ADMIN,
    "adminportal:gallery_item_plan_attach": ADMIN,
    "adminportal:gallery_item_plan_detach": ADMIN,
    "adminportal:gallery_version_create": ADMIN,
    "adminportal:gallery_version_edit": ADMIN,
    "adminportal:gallery_version_delete": ADMIN,
    "adminportal:gallery_version_publish": ADMIN,
    "adminportal:gallery_version_unpublish": ADMIN,
    "adminportal:gallery_version_deprecate": ADMIN,
    "adminportal:gallery_version_preview": ADMIN,
    "adminportal:gallery_version_preview_fields": ADMIN,
    "adminportal:vm_sizes": ADMIN,
    "adminportal:vm_size_create": ADMIN,
    "adminportal:vm_size_edit": ADMIN,
    "adminportal:vm_size_plan_attach": ADMIN,
    "adminportal:vm_size_plan_detach": ADMIN,
    "adminportal:hosts": ADMIN,
    "adminportal:host_create": ADMIN,
    "adminportal:host_detail": ADMIN,
    "adminportal:host_state": ADMIN,
    "adminportal:host_refresh": ADMIN,
    "adminportal:host_delete": ADMIN,
    "adminportal:jobs": ADMIN,
    "adminportal:job_detail": ADMIN,
    "adminportal:job_retry": ADMIN,
    "adminportal:job_cancel": ADMIN,
    # --- REST API, tenant side ---
    "api:me": AUTH,
    "api:tenant": TENANT,
    "api:plan-list": TENANT,
    "api:plan-detail": Obj(pk="acme_private_plan", control=False),
    "api:subscription-list": TENANT,
    "api:member-list": TENANT,
    "api:invitation-list": TENANT,
    "api:token-list": TENANT,
    "api:activity-list": TENANT,
    "api:subscription-detail": Obj(pk="acme_subscription"),
    "api:subscription-cancel": Obj(pk="acme_subscription"),
    "api:subscription-quota": Obj(pk="acme_subscription"),
    "api:subscription-addon-list": Obj(pk="acme_subscription"),
    "api:subscription-addon-detail": Obj(pk="acme_subscription", addon_pk="addon"),
    "api:member-detail": Obj(pk="bob_membership"),
    "api:invitation-detail": Obj(pk="acme_invitation"),
    "api:invitation-revoke": Obj(pk="acme_invitation"),
    "api:token-detail": Obj(pk="acme_token"),
    "api:token-revoke": Obj(pk="acme_token"),
    # --- REST API, service admins only (session; a token is always a tenant credential) ---
    "api:admin-tenant-list": ADMIN,
    "api:admin-tenant-detail": ADMIN,
    "api:admin-tenant-disable": ADMIN,
    "api:admin-tenant-enable": ADMIN,
    "api:admin-user-list": ADMIN,
    "api:admin-user-detail": ADMIN,
    "api:admin-user-deactivate": ADMIN,
    "api:admin-user-activate": ADMIN,
    "api:admin-plan-list": ADMIN,
    "api:admin-plan-detail": ADMIN,
    "api:admin-addon-list": ADMIN,
    "api:admin-addon-detail": ADMIN,
    "api:admin-subscription-list": ADMIN,
    "api:admin-subscription-detail": ADMIN,
    "api:admin-subscription-suspend": ADMIN,
    "api:admin-subscription-reactivate": ADMIN,
    "api:admin-subscription-cancel": ADMIN,
    "api:admin-activity-list": ADMIN,
    "api:admin-gallery-item-list": ADMIN,
    "api:admin-gallery-item-detail": ADMIN,
    "api:admin-gallery-item-export": ADMIN,
    "api:admin-gallery-item-plan": ADMIN,
    "api:admin-gallery-import": ADMIN,
    "api:admin-gallery-version-create": ADMIN,
    "api:admin-gallery-version-detail": ADMIN,
    "api:admin-gallery-version-publish": ADMIN,
    "api:admin-gallery-version-unpublish": ADMIN,
    "api:admin-gallery-version-deprecate": ADMIN,
    "api:admin-vm-size-list": ADMIN,
    "api:admin-vm-size-detail": ADMIN,
    "api:admin-vm-size-plan": ADMIN,
    "api:admin-host-list": ADMIN,
    "api:admin-host-detail": ADMIN,
    "api:admin-host-state": ADMIN,
    "api:admin-job-list": ADMIN,
    "api:admin-job-detail": ADMIN,
    "api:admin-job-retry": ADMIN,
    "api:admin-job-cancel": ADMIN,
}
