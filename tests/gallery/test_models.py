"""Versions: numbers, quota demand, sizes, images and the validation context."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from gallery.models import GalleryItemVersion, parse_version
from gallery.parameters import ParameterValidationError
from gallery.services import gallery_package_import
from subscriptions.quota import Demand
from tests.gallery.helpers import SSH_KEY, make_version, resource, sample


def test_version_numbers_parse_and_print():
    assert parse_version(" 1.20.300 ") == (1, 20, 300)
    for bad in ("1.2", "1.2.3.4", "01.2.3", "a.b.c", "-1.0.0"):
        with pytest.raises(ValidationError):
            parse_version(bad)


def test_demand_counts_every_instance_with_its_data_disks(item, sizes):
    version = make_version(
        item,
        resource_definition=resource(
            instance_count={"min": 2, "max": 10, "default": 2},
            data_disks=[{"name": "data", "size_gib": 50}, {"name": "logs", "size_gib": 10}],
        ),
    )
    assert version.demand(3, sizes["medium"]) == Demand(
        vms=3, vcpus=6, ram_gib=12, disk_gib=3 * (40 + 50 + 10)
    )


def test_demand_takes_a_data_disk_size_from_its_parameter(admin, sizes):
    postgres = gallery_package_import(data=sample("postgresql"), actor=admin).item.versions.get()
    values = postgres.parameters.validate(
        {"db_password": "long enough pw", "ssh_key": SSH_KEY, "data_disk_gib": "200"},
        postgres.validation_context(sizes=list(sizes.values())),
    )
    assert postgres.demand(1, sizes["large"], values=values) == Demand(
        vms=1, vcpus=4, ram_gib=8, disk_gib=80 + 200
    )
    assert postgres.demand(1, sizes["large"]).disk_gib == 80 + 50


@pytest.mark.parametrize("count", [1, 11, True, "3"])
def test_demand_refuses_an_instance_count_outside_the_bounds(item, sizes, count):
    version = make_version(
        item, resource_definition=resource(instance_count={"min": 2, "max": 10, "default": 2})
    )
    with pytest.raises(ValidationError) as info:
        version.demand(count, sizes["small"])
    assert "instance_count" in info.value.message_dict


def test_the_validation_context_offers_the_versions_active_sizes_the_plan_has(item, sizes):
    version = make_version(item, resource_definition=resource(sizes=["small", "medium", "large"]))
    sizes["medium"].state = "retired"
    context = version.validation_context(
        sizes=[sizes["medium"], sizes["large"], sizes["xlarge"]], networks=["n1"]
    )
    assert context.vm_sizes == {"large"} and context.networks == {"n1"}


def test_size_and_image_follow_the_parameters(admin, sizes):
    farm = gallery_package_import(data=sample("web-farm"), actor=admin).item.versions.get()
    context = farm.validation_context(sizes=list(sizes.values()), networks=[])
    values = farm.parameters.validate(
        {
            "ssh_key": SSH_KEY,
            "os_family": "ubuntu",
            "image": "ubuntu-24.04-server-cloudimg-amd64",
            "size": "medium",
        },
        context,
    )
    assert farm.image_name(values) == "ubuntu-24.04-server-cloudimg-amd64"
    assert farm.size_name(values) == "medium"
    assert farm.size_name({}) == "small"
    with pytest.raises(ParameterValidationError) as info:
        farm.parameters.validate({"ssh_key": SSH_KEY, "size": "xlarge"}, context)
    assert info.value.errors == {"size": ["Select one of the sizes offered."]}


def test_the_compiled_extension_renders_the_samples_payload(admin, sizes):
    web = gallery_package_import(data=sample("web-server"), actor=admin).item.versions.get()
    values = web.parameters.validate(
        {"ssh_key": SSH_KEY, "server_name": "www.example.com"}, web.validation_context()
    )
    payload = web.user_data.render(values)
    assert payload.reveal().startswith("#cloud-config\n")
    assert "cloudstamp-web-tls" not in payload.reveal()


def test_a_version_names_its_item_when_loaded_without_querying(item, django_assert_num_queries):
    make_version(item, "1.2.3")
    with django_assert_num_queries(1):
        bare = GalleryItemVersion.objects.get()
        assert str(bare) == "version 1.2.3"
    assert str(GalleryItemVersion.objects.select_related("item").get()) == "Tiny server 1.2.3"
