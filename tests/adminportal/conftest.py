from __future__ import annotations

import pytest

from tests.factories import AddOnFactory


@pytest.fixture
def addon(plan):
    return AddOnFactory(name="Extra compute", plans=[plan])


@pytest.fixture
def page_kwargs(acme, alice, plan, addon, acme_subscription) -> dict[str, dict]:
    """URL arguments for every admin page that addresses an object."""
    return {
        "tenant_detail": {"pk": acme.pk},
        "tenant_disable": {"pk": acme.pk},
        "tenant_enable": {"pk": acme.pk},
        "user_detail": {"pk": alice.pk},
        "user_deactivate": {"pk": alice.pk},
        "user_activate": {"pk": alice.pk},
        "plan_detail": {"pk": plan.pk},
        "plan_edit": {"pk": plan.pk},
        "addon_edit": {"pk": addon.pk},
        "subscription_detail": {"pk": acme_subscription.pk},
        "subscription_suspend": {"pk": acme_subscription.pk},
        "subscription_reactivate": {"pk": acme_subscription.pk},
        "subscription_cancel": {"pk": acme_subscription.pk},
    }
