"""The built-in {% url %} is replaced by portal.templatetags.urls (settings' builtins): the
same output as Django's, argument-less reversals remembered per URLconf and script prefix."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.test import override_settings
from django.urls import NoReverseMatch, reverse, set_script_prefix

from portal.templatetags import urls


def render(source: str, **context) -> str:
    return Template(source).render(Context(context))


@pytest.fixture(autouse=True)
def empty_cache():
    urls._reversed.clear()
    yield
    urls._reversed.clear()
    set_script_prefix("/")


def test_it_is_the_url_tag_every_template_gets():
    assert isinstance(Template("{% url 'home' %}").nodelist[0], urls.CachedURLNode)


def test_it_answers_as_djangos_tag_with_and_without_arguments():
    assert render("{% url 'compute:vms' %}") == reverse("compute:vms")
    assert render("{% url 'compute:vms' %}") == reverse("compute:vms")  # from the cache
    pk = "0b3c6f1e-9a43-4d55-9c8f-8d7f3a1e2b10"
    assert render("{% url 'compute:vm' pk %}", pk=pk) == reverse("compute:vm", args=[pk])
    assert render("{% url 'compute:vms' as where %}[{{ where }}]") == f"[{reverse('compute:vms')}]"
    assert render("{% url name %}", name="tenants:dashboard") == reverse("tenants:dashboard")


def test_a_name_that_does_not_reverse_raises_or_is_empty_as_a_variable():
    with pytest.raises(NoReverseMatch):
        render("{% url 'no-such-page' %}")
    assert render("{% url 'no-such-page' as where %}[{{ where }}]") == "[]"
    assert not any(key[0] == "no-such-page" for key in urls._reversed)


def test_the_script_prefix_is_part_of_the_key():
    first = render("{% url 'compute:vms' %}")
    set_script_prefix("/portal/")
    assert render("{% url 'compute:vms' %}") == "/portal" + first
    set_script_prefix("/")
    assert render("{% url 'compute:vms' %}") == first


@override_settings(ROOT_URLCONF="benchmarks.urls")
def test_the_urlconf_is_part_of_the_key():
    # The benchmarks' URLconf adds its raw views to the portal's.
    assert render("{% url 'compute:vms' %}") == reverse("compute:vms")
    assert any(key[2] == "benchmarks.urls" for key in urls._reversed)
