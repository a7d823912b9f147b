"""factory_boy factories for the whole suite."""

from __future__ import annotations

import factory

from subscriptions.models import AddOn, Plan, Subscription
from tenants.models import Membership, Role, Tenant, User


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ("email",)

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    username = factory.SelfAttribute("email")
    full_name = factory.Faker("name")
    password = factory.django.Password("password")


class ServiceAdminFactory(UserFactory):
    is_service_admin = True


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"Tenant {n}")
    slug = factory.Sequence(lambda n: f"tenant-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    tenant = factory.SubFactory(TenantFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.OWNER


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    name = factory.Sequence(lambda n: f"Plan {n}")
    description = "A plan for tests."
    vms = 10
    vcpus = 20
    ram_gib = 40
    disk_gib = 500
    networks = 5
    public_ips = 2


class AddOnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AddOn
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Add-on {n}")
    vms = 5
    vcpus = 10

    @factory.post_generation
    def plans(self, create, extracted, **kwargs):
        if create and extracted:
            self.plans.set(extracted)


class SubscriptionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Subscription

    tenant = factory.SubFactory(TenantFactory)
    plan = factory.SubFactory(PlanFactory)
    name = factory.LazyAttribute(lambda o: o.plan.name)
