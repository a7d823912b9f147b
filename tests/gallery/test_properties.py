"""Property tests: whatever the validator accepts renders into the extension template and
validates again to the same values; whatever it rejects, it rejects by field name."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from gallery.extension import UserDataTemplate
from gallery.parameters import (
    MISSING,
    Context,
    Definition,
    DefinitionError,
    ParameterValidationError,
    compile_definition,
    reveal,
)
from tests.gallery.helpers import definition, param, sample, ssh_key

# No example database: the tests must not write into the working tree.
PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
SIZES = ["small", "medium", "large"]
NETWORKS = ["frontend", "backend"]
CONTEXT = Context(vm_sizes=SIZES, networks=NETWORKS)

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**20), max_value=10**20),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=2),
)
keys = st.builds(
    lambda payload, kind, comment: ssh_key(payload, kind, comment),
    st.binary(min_size=1, max_size=64),
    st.sampled_from(["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"]),
    st.text(
        alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x2FF, exclude_characters="\x7f"),
        max_size=12,
    ),
)


def valid_ish(p) -> st.SearchStrategy:
    """Values of the right kind for ``p``: mostly valid, some just outside the rules."""
    kind = p.type
    if kind == "choice":
        good = st.sampled_from(sorted(p.all_choice_values()) or ["x"])
    elif kind == "integer":
        low = p.min if p.min is not None else -1000
        high = p.max if p.max is not None else 1000
        good = st.one_of(
            st.integers(low, high), st.integers(low, high).map(str), st.integers(low - 2, high + 2)
        )
    elif kind == "boolean":
        good = st.one_of(st.booleans(), st.sampled_from(["on", "off", "true", "false", "1", "0", ""]))
    elif kind == "ssh_public_key":
        good = keys
    elif kind == "vm_size":
        good = st.one_of(st.sampled_from(SIZES), st.just("huge"))
    elif kind == "tenant_network":
        good = st.one_of(st.sampled_from(NETWORKS), st.just("elsewhere"))
    elif kind == "hostname_prefix":
        good = st.from_regex(r"[A-Za-z][a-z0-9-]{0,12}[a-z0-9]?", fullmatch=True)
    elif p.regex is not None:
        good = st.from_regex(p.regex, fullmatch=True)
    else:
        # Printable text (plus newlines and tabs where allowed), and now and then anything.
        printable = st.characters(
            exclude_categories=["Cc", "Cs", "Zl", "Zp"],
            include_characters="\n\t" if p.multiline else "",
        )
        good = st.one_of(st.text(alphabet=printable, max_size=40), st.text(max_size=10))
    return good


def strictly_valid(p, drawn: dict[str, Any]) -> st.SearchStrategy:
    """Values ``p`` accepts, given the values drawn so far for the parameters before it."""
    kind = p.type
    if kind == "choice":
        current = [c.value for c in p.choices_for(drawn)]
        return st.sampled_from(current) if current else st.just("none-on-offer")
    if kind == "integer":
        return st.integers(p.min if p.min is not None else -1000, p.max if p.max is not None else 1000)
    if kind == "boolean":
        return st.booleans()
    if kind == "vm_size":
        return st.sampled_from(SIZES)
    if kind == "tenant_network":
        return st.sampled_from(NETWORKS)
    if kind in ("string", "secret") and p.regex is None:
        printable = st.characters(
            exclude_categories=["Cc", "Cs", "Zl", "Zp"],
            exclude_characters="\x85",
            include_characters="\n\t" if p.multiline else "",
        )
        low, high = p.min_length or 1, p.max_length or 40
        return st.text(alphabet=printable, min_size=low, max_size=max(low, min(high, 40))).filter(
            lambda t: t.strip()
        )
    return valid_ish(p)


@st.composite
def inputs(draw, compiled: Definition) -> dict[str, Any]:
    """An input for ``compiled``. Three kinds of examples, so that both verdicts are common:
    strict (values drawn to be valid, in declaration order so dependent choices fit), near
    (right kind, sometimes just outside the rules) and noisy (any value may be junk)."""
    mode = draw(st.sampled_from(["strict", "strict", "strict", "near", "near", "noisy"]))
    values: dict[str, Any] = {}
    for p in compiled.params.values():
        present = draw(st.integers(0, 9)) > (0 if mode == "strict" else 1)
        if not present:
            continue
        if mode == "strict":
            values[p.name] = draw(strictly_valid(p, values))
        elif mode == "near":
            values[p.name] = draw(valid_ish(p))
        else:
            values[p.name] = draw(st.one_of(valid_ish(p), junk))
    if mode == "noisy" and draw(st.booleans()):
        values[draw(st.sampled_from(["stray", "x_unknown"]))] = draw(junk)
    return values


def probe_template(compiled: Definition) -> UserDataTemplate:
    """Every parameter three ways: as YAML, as JSON inside YAML, as a shell word inside YAML."""
    lines = ["#cloud-config"]
    for name in compiled.params:
        lines += [
            f"y_{name}: {{{{ {name} | yaml }}}}",
            f"j_{name}: {{{{ {name} | json | yaml }}}}",
            f"s_{name}: {{{{ {name} | shell | yaml }}}}",
        ]
    return UserDataTemplate.compile("\n".join(lines) + "\n", compiled)


def check_property(compiled: Definition, template: UserDataTemplate, values: dict) -> None:
    try:
        cleaned = compiled.validate(values, CONTEXT)
    except ParameterValidationError as exc:
        event("rejected")
        # Rejected: every problem names a field, and the fields are the definition's or the input's.
        assert exc.errors
        assert set(exc.errors) <= set(compiled.params) | {str(k) for k in values}
        assert all(
            messages and all(isinstance(m, str) and m for m in messages) for messages in exc.errors.values()
        )
        for key in values:
            if key not in compiled.params:
                assert exc.errors[key] == ["Unknown parameter."]
        return
    event("accepted")
    plain = reveal(cleaned)
    document = yaml.safe_load(template.render(cleaned).reveal())
    again = {}
    for name in compiled.params:
        value = plain.get(name, None)
        assert document[f"y_{name}"] == value
        assert json.loads(document[f"j_{name}"]) == value
        shell_word = document[f"s_{name}"]
        if value is None:
            assert shlex.split(shell_word) == [""]
        elif isinstance(value, bool):
            assert shell_word == ("true" if value else "false")
        else:
            assert shlex.split(shell_word) == [str(value)]
        if document[f"y_{name}"] is not None:
            again[name] = document[f"y_{name}"]
    assert compiled.validate(again, CONTEXT) == cleaned


RICH = compile_definition(
    definition(
        param("family", "choice", choices=["debian", "ubuntu"], default="debian"),
        param(
            "image",
            "choice",
            required=True,
            choices_from={"param": "family", "map": {"debian": ["d12", "d11"], "ubuntu": ["u24"]}},
        ),
        param("size", "vm_size", default="small"),
        param("network", "tenant_network"),
        param("host", "hostname_prefix", required=True),
        param("count", "integer", min=1, max=10, default=2),
        param("title"),
        param("notes", multiline=True, max_length=200),
        param("user", regex="[a-z_][a-z0-9_-]{0,15}", required=True),
        param("password", "secret", min_length=4),
        param("key", "ssh_public_key"),
        param("tls", "boolean"),
        param("cert", multiline=True, required=True, visible_if={"param": "tls", "equals": True}),
        param(
            "hsts",
            "boolean",
            visible_if={"all": [{"param": "tls", "equals": True}, {"not": {"param": "count", "in": [1]}}]},
        ),
    )
)
RICH_TEMPLATE = probe_template(RICH)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_accepted_values_render_and_validate_again_rich_definition(data):
    check_property(RICH, RICH_TEMPLATE, data.draw(inputs(RICH)))


@pytest.mark.parametrize("name", ["linux-server", "web-server", "postgresql", "web-farm"])
def test_accepted_values_render_and_validate_again_sample_definitions(name):
    version = sample(name)["versions"][-1]
    compiled = compile_definition(version["parameters"], default_language=version["default_language"])
    template = probe_template(compiled)
    real = UserDataTemplate.compile(version["extension"]["user_data"], compiled)

    @PROPERTY_SETTINGS
    @given(data=st.data())
    def run(data):
        values = data.draw(inputs(compiled))
        check_property(compiled, template, values)
        try:
            cleaned = compiled.validate(values, CONTEXT)
        except ParameterValidationError:
            return
        # The sample's own template renders valid cloud-config for anything accepted.
        assert isinstance(yaml.safe_load(real.render(cleaned).reveal()), dict)

    run()


@st.composite
def single_parameter_definitions(draw) -> dict:
    kind = draw(
        st.sampled_from(
            [
                "string",
                "integer",
                "boolean",
                "choice",
                "secret",
                "ssh_public_key",
                "hostname_prefix",
                "vm_size",
                "tenant_network",
            ]
        )
    )
    extra: dict[str, Any] = {"required": draw(st.booleans())}
    if kind in ("string", "secret", "hostname_prefix"):
        if draw(st.booleans()):
            low = draw(st.integers(0, 5))
            extra.update(min_length=low, max_length=draw(st.integers(max(low, 1), 40)))
        if draw(st.booleans()):
            extra["regex"] = draw(
                st.sampled_from(["[a-z]+", "[A-Za-z0-9 ._-]*", "[0-9]{2,4}", "(?!root$)[a-z]{1,8}", "[^<>]*"])
            )
        if kind in ("string", "secret"):
            extra["multiline"] = draw(st.booleans())
    elif kind == "integer":
        low = draw(st.integers(-50, 50))
        extra.update(min=low, max=draw(st.integers(low, low + 100)))
        if draw(st.booleans()):
            extra["default"] = low
    elif kind == "choice":
        extra["choices"] = draw(
            st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5, unique=True)
        )
    elif kind == "boolean" and not extra["required"]:
        extra["default"] = draw(st.booleans())
    return definition(param("p", kind, **extra))


@PROPERTY_SETTINGS
@given(raw=single_parameter_definitions(), data=st.data())
def test_accepted_values_render_and_validate_again_any_single_parameter(raw, data):
    try:
        compiled = compile_definition(raw)
    except DefinitionError:
        assume(False)
    check_property(compiled, probe_template(compiled), data.draw(inputs(compiled)))


@PROPERTY_SETTINGS
@given(values=st.dictionaries(st.text(max_size=8), junk, max_size=6))
def test_arbitrary_input_never_crashes_the_validator(values):
    try:
        RICH.validate(values, CONTEXT)
    except ParameterValidationError as exc:
        assert set(exc.errors) <= set(RICH.params) | set(values)


def test_the_missing_marker_is_falsy_and_never_a_value():
    assert not MISSING
    assert MISSING not in RICH.validate({"user": "u", "host": "h", "image": "d12"}, CONTEXT).values()
