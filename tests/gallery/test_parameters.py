"""The parameter-definition engine: compiling, definition checks, validation, form state."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import ValidationError

from gallery.parameters import (
    REDACTED,
    Context,
    DefinitionError,
    ParameterValidationError,
    Secret,
    compile_definition,
    redact,
    reveal,
)
from tests.gallery.helpers import SSH_KEY, definition, param, ssh_key


def _errors(compiled, values, context=None) -> dict[str, list[str]]:
    with pytest.raises(ParameterValidationError) as info:
        compiled.validate(values, context)
    return info.value.errors


def _problems(raw, **kwargs) -> list[str]:
    with pytest.raises(DefinitionError) as info:
        compile_definition(raw, **kwargs)
    return info.value.messages()


# --- validation by type ----------------------------------------------------------------------


def test_it_cleans_typed_json_and_form_text_alike():
    compiled = compile_definition(
        definition(param("count", "integer", min=1, max=5), param("on", "boolean"), param("name"))
    )
    assert compiled.validate({"count": 3, "on": True, "name": "x"}) == {"count": 3, "on": True, "name": "x"}
    assert compiled.validate({"count": " 3 ", "on": "on", "name": "  x  "}) == {
        "count": 3,
        "on": True,
        "name": "x",
    }


def test_it_fills_defaults_for_missing_and_empty_values():
    compiled = compile_definition(
        definition(param("count", "integer", default=2), param("name", default="web"))
    )
    assert compiled.validate({}) == {"count": 2, "name": "web"}
    assert compiled.validate({"count": "", "name": None}) == {"count": 2, "name": "web"}


def test_it_leaves_out_optional_values_without_default():
    compiled = compile_definition(definition(param("note")))
    assert compiled.validate({}) == {}


def test_it_lists_every_problem_with_the_field_name():
    compiled = compile_definition(
        definition(
            param("count", "integer", min=1, max=5),
            param("name", required=True),
            param(
                "user", regex="[a-z]+", regex_message={"en": "Lower case only.", "de": "Nur Kleinbuchstaben."}
            ),
            param("flavour", "choice", choices=["a", "b"]),
        )
    )
    errors = _errors(compiled, {"count": 9, "user": "Bob", "flavour": "c", "stray": 1})
    assert errors == {
        "count": ["Enter 5 or less."],
        "name": ["This field is required."],
        "user": ["Lower case only."],
        "flavour": ["Select one of the options offered."],
        "stray": ["Unknown parameter."],
    }


def test_the_error_is_a_django_validation_error_with_field_messages():
    compiled = compile_definition(definition(param("name", required=True)))
    with pytest.raises(ValidationError) as info:
        compiled.validate({})
    assert info.value.message_dict == {"name": ["This field is required."]}


def test_regex_messages_follow_the_language_with_a_fallback():
    compiled = compile_definition(
        definition(
            param(
                "user", regex="[a-z]+", regex_message={"en": "Lower case only.", "de": "Nur Kleinbuchstaben."}
            )
        )
    )
    assert _errors(compiled, {"user": "X"}, Context(language="de-CH")) == {"user": ["Nur Kleinbuchstaben."]}
    assert _errors(compiled, {"user": "X"}, Context(language="fr")) == {"user": ["Lower case only."]}


def test_regexes_must_match_the_whole_value():
    compiled = compile_definition(definition(param("code", regex="[0-9]{3}")))
    assert compiled.validate({"code": "123"}) == {"code": "123"}
    assert "code" in _errors(compiled, {"code": "1234"})


def test_ignore_unknown_lets_a_form_post_other_fields():
    compiled = compile_definition(definition(param("name")))
    assert compiled.validate({"name": "a", "csrfmiddlewaretoken": "x"}, ignore_unknown=True) == {"name": "a"}


def test_it_refuses_values_that_are_not_an_object():
    compiled = compile_definition(definition(param("name")))
    assert _errors(compiled, ["name"]) == {"__all__": ["Parameters must be an object of name: value pairs."]}


@pytest.mark.parametrize(
    ("raw", "ok"),
    [
        (True, True),
        (1, True),
        ("yes", True),
        ("false", True),
        (0, True),
        (2, False),
        ("maybe", False),
        (1.0, False),
    ],
)
def test_booleans_accept_json_and_form_spellings(raw, ok):
    compiled = compile_definition(definition(param("flag", "boolean")))
    if ok:
        assert isinstance(compiled.validate({"flag": raw})["flag"], bool)
    else:
        assert "flag" in _errors(compiled, {"flag": raw})


def test_a_missing_boolean_is_false_and_a_required_one_must_be_ticked():
    compiled = compile_definition(
        definition(param("flag", "boolean"), param("accept", "boolean", required=True))
    )
    assert _errors(compiled, {}) == {"accept": ["This must be checked to continue."]}
    assert compiled.validate({"accept": True}) == {"flag": False, "accept": True}


@pytest.mark.parametrize("raw", [True, "1.5", "0x10", "1e3", 2.5, "٣", "9" * 19])
def test_integers_refuse_what_is_not_a_whole_number(raw):
    compiled = compile_definition(definition(param("n", "integer")))
    assert _errors(compiled, {"n": raw}) == {"n": ["Enter a whole number."]}


def test_integers_check_allowed_values():
    compiled = compile_definition(definition(param("port", "integer", allowed=[80, 443])))
    assert compiled.validate({"port": "443"}) == {"port": 443}
    assert _errors(compiled, {"port": 8080}) == {"port": ["Enter one of: 80, 443."]}


def test_strings_refuse_control_characters_and_line_breaks_unless_multiline():
    compiled = compile_definition(definition(param("one"), param("many", multiline=True)))
    assert "one" in _errors(compiled, {"one": "a\nb"})
    assert "one" in _errors(compiled, {"one": "a\u2028b"})
    assert compiled.validate({"many": "a\r\nb\n\tc"}) == {"many": "a\nb\n\tc"}
    assert "many" in _errors(compiled, {"many": "a\x00b"})


def test_strings_check_lengths_and_allowed_values():
    compiled = compile_definition(
        definition(param("s", min_length=2, max_length=3), param("t", allowed=["x", "y"]))
    )
    assert _errors(compiled, {"s": "a"}) == {"s": ["Enter at least 2 characters (it has 1)."]}
    assert _errors(compiled, {"s": "abcd"}) == {"s": ["Enter at most 3 characters (it has 4)."]}
    assert "t" in _errors(compiled, {"t": "z"})


def test_strings_have_an_intrinsic_length_limit():
    compiled = compile_definition(definition(param("s")))
    assert "s" in _errors(compiled, {"s": "a" * 4097})


def test_hostname_prefixes_are_lower_cased_and_checked():
    compiled = compile_definition(definition(param("host", "hostname_prefix")))
    assert compiled.validate({"host": " Web-01 "}) == {"host": "web-01"}
    for bad in ("1web", "web-", "we_b", "a" * 41, "wéb"):
        assert "host" in _errors(compiled, {"host": bad}), bad


def test_ssh_keys_are_checked_down_to_their_contents():
    compiled = compile_definition(definition(param("key", "ssh_public_key")))
    assert compiled.validate({"key": SSH_KEY + "\n"}) == {"key": SSH_KEY}
    assert compiled.validate({"key": ssh_key(kind="ssh-rsa", payload=b"\x03" * 64)})["key"].startswith(
        "ssh-rsa "
    )
    mismatched = ssh_key(kind="ssh-rsa").replace("ssh-rsa", "ssh-ed25519", 1)
    for bad in (
        "not a key",
        SSH_KEY.replace("AAAA", "!!!!"),
        mismatched,
        SSH_KEY + "\nssh-ed25519 AAAA",
        "ssh-dss AAAA",
    ):
        assert "key" in _errors(compiled, {"key": bad}), bad


def test_vm_sizes_and_networks_come_from_the_context():
    compiled = compile_definition(
        definition(param("size", "vm_size", default="small"), param("net", "tenant_network"))
    )
    context = Context(vm_sizes=["small", "large"], networks={"n1": "Frontend"})
    assert compiled.validate({"size": "large", "net": "n1"}, context) == {"size": "large", "net": "n1"}
    errors = _errors(compiled, {"size": "huge", "net": "n2"}, context)
    assert errors == {"size": ["Select one of the sizes offered."], "net": ["Select one of your networks."]}


def test_a_default_size_the_plan_does_not_offer_is_no_default():
    compiled = compile_definition(definition(param("size", "vm_size", default="small", required=True)))
    assert compiled.validate({}, Context(vm_sizes=["small"])) == {"size": "small"}
    assert _errors(compiled, {}, Context(vm_sizes=["large"])) == {"size": ["This field is required."]}


# --- secrets ---------------------------------------------------------------------------------


def test_secrets_are_kept_wrapped_and_never_shown(caplog):
    compiled = compile_definition(definition(param("password", "secret", min_length=8), param("user")))
    cleaned = compiled.validate({"password": "hunter2hunter2", "user": "bob"})
    assert cleaned["password"] == Secret("hunter2hunter2")
    assert "hunter2" not in repr(cleaned) and "hunter2" not in str(cleaned) and "hunter2" not in f"{cleaned}"
    logging.getLogger("test").warning("cleaned: %s", cleaned)
    assert "hunter2" not in caplog.text
    assert redact(cleaned) == {"password": REDACTED, "user": "bob"}
    assert reveal(cleaned) == {"password": "hunter2hunter2", "user": "bob"}
    assert compiled.secret_names == {"password"}


def test_secrets_are_not_stripped_and_errors_never_echo_them():
    compiled = compile_definition(definition(param("password", "secret", min_length=8, max_length=12)))
    assert compiled.validate({"password": " padded  "}) == {"password": Secret(" padded  ")}
    with pytest.raises(ParameterValidationError) as info:
        compiled.validate({"password": "sw0rdfish-and-more"})
    assert "sw0rdfish" not in str(info.value)
    assert info.value.errors == {"password": ["Enter at most 12 characters (it has 18)."]}


def test_secrets_refuse_to_be_pickled():
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(Secret("x"))


# --- dependent fields ------------------------------------------------------------------------

TLS = definition(
    param("tls", "boolean"),
    param("cert", multiline=True, required=True, visible_if={"param": "tls", "equals": True}),
    param("redirect", "boolean", default=True, visible_if={"param": "tls", "equals": True}),
    param(
        "hsts",
        "boolean",
        visible_if={"all": [{"param": "tls", "equals": True}, {"param": "redirect", "equals": True}]},
    ),
)


def test_hidden_fields_are_neither_validated_nor_kept():
    compiled = compile_definition(TLS)
    assert compiled.validate({"tls": False, "cert": 42, "redirect": "garbage"}) == {"tls": False}


def test_visible_fields_are_validated_and_required():
    compiled = compile_definition(TLS)
    assert _errors(compiled, {"tls": True}) == {"cert": ["This field is required."]}
    assert compiled.validate({"tls": "on", "cert": "PEM"}) == {
        "tls": True,
        "cert": "PEM",
        "redirect": True,
        "hsts": False,
    }


def test_nested_conditions_follow_hidden_parents():
    compiled = compile_definition(TLS)
    cleaned = compiled.validate({"tls": True, "cert": "PEM", "redirect": False, "hsts": True})
    assert "hsts" not in cleaned


def test_in_any_and_not_conditions():
    compiled = compile_definition(
        definition(
            param("algo", "choice", choices=["rr", "least", "hash"], default="rr"),
            param("sticky", "boolean", visible_if={"not": {"param": "algo", "equals": "hash"}}),
            param(
                "weight",
                "integer",
                visible_if={"any": [{"param": "algo", "in": ["least"]}, {"param": "sticky", "equals": True}]},
            ),
        )
    )
    assert compiled.validate({"algo": "hash", "sticky": True, "weight": 1}) == {"algo": "hash"}
    assert compiled.validate({"algo": "rr", "sticky": True, "weight": 1}) == {
        "algo": "rr",
        "sticky": True,
        "weight": 1,
    }
    assert compiled.validate({"algo": "least"}) == {"algo": "least", "sticky": False}


FARM = definition(
    param("family", "choice", choices=["debian", "ubuntu"], default="debian"),
    param(
        "image",
        "choice",
        required=True,
        default="debian-12",
        choices_from={
            "param": "family",
            "map": {
                "debian": ["debian-12", "debian-11"],
                "ubuntu": [{"value": "ubuntu-24.04", "label": {"en": "Ubuntu", "de": "Ubuntu (de)"}}],
            },
        },
    ),
)


def test_choices_follow_another_parameter():
    compiled = compile_definition(FARM)
    assert compiled.validate({}) == {"family": "debian", "image": "debian-12"}
    assert compiled.validate({"family": "ubuntu", "image": "ubuntu-24.04"})["image"] == "ubuntu-24.04"
    assert _errors(compiled, {"family": "ubuntu", "image": "debian-12"}) == {
        "image": ["Select one of the options offered."]
    }


def test_a_dependent_default_applies_only_while_it_is_on_offer():
    compiled = compile_definition(FARM)
    assert _errors(compiled, {"family": "ubuntu"}) == {"image": ["This field is required."]}


def test_dependencies_are_evaluated_whatever_the_declaration_order():
    raw = definition(
        param("cert", required=True, visible_if={"param": "tls", "equals": True}),
        param("tls", "boolean"),
    )
    compiled = compile_definition(raw)
    assert _errors(compiled, {"tls": True}) == {"cert": ["This field is required."]}


# --- definition-time checks --------------------------------------------------------------------


def test_it_reports_unknown_references():
    problems = _problems(
        definition(
            param("a", visible_if={"param": "ghost", "equals": "x"}),
            param("b", "choice", choices_from={"param": "phantom", "map": {"x": ["y"]}}),
        )
    )
    assert problems == [
        "$.sections[0].parameters[0].visible_if.param: visible_if refers to 'ghost', which is not a parameter of this definition",
        "$.sections[0].parameters[1].choices_from.param: choices_from refers to 'phantom', which is not a parameter of this definition",
    ]


def test_it_reports_cycles_once_with_their_path():
    problems = _problems(
        definition(
            param("a", visible_if={"param": "b", "equals": "1"}),
            param("b", visible_if={"param": "c", "equals": "1"}),
            param("c", visible_if={"param": "a", "equals": "1"}),
            param("d", visible_if={"param": "d", "equals": "1"}),
        )
    )
    assert any("dependency cycle: a → b → c → a" in p for p in problems)
    assert "$.sections[0].parameters[3].visible_if.param: visible_if of 'd' refers to itself" in problems
    assert sum("cycle" in p for p in problems) == 1


def test_it_reports_a_cycle_through_choices_from():
    problems = _problems(
        definition(
            param("a", "choice", choices_from={"param": "b", "map": {"x": ["x"]}}),
            param("b", "choice", choices_from={"param": "a", "map": {"x": ["x"]}}),
        )
    )
    assert any("dependency cycle" in p for p in problems)


def test_it_reports_duplicate_names_and_bad_defaults():
    problems = _problems(
        definition(
            param("a", "integer", default="many"),
            param("a"),
            param("c", "choice", choices=["x", "x"], default="y"),
            param("d", regex="[a-z]+", default="ABC"),
        )
    )
    assert problems == [
        "$.sections[0].parameters[0].default: the default 'many' does not validate: Enter a whole number.",
        "$.sections[0].parameters[1].name: duplicate parameter name 'a'",
        "$.sections[0].parameters[2].choices[1]: duplicate choice 'x'",
        "$.sections[0].parameters[2].default: the default 'y' does not validate: Select one of the options offered.",
        "$.sections[0].parameters[3].default: the default 'ABC' does not validate: Enter a value in the expected format.",
    ]


def test_it_reports_attributes_that_do_not_fit_the_type():
    problems = _problems(
        definition(
            param("a", "integer", regex="[0-9]+"),
            param("b", "secret", default="hunter2"),
            param("c", "tenant_network", default="net"),
            param("d", "string", min=1),
            param("e", "choice", choices=["x"], choices_from={"param": "a", "map": {"1": ["x"]}}),
            param("f", "string", regex="(unclosed"),
            param("g", "integer", min=5, max=1),
        )
    )
    text = "\n".join(problems)
    assert "parameters[0].regex: does not apply to an integer parameter" in text
    assert "parameters[1].default: a secret cannot have a default" in text
    assert "parameters[2].default: networks belong to tenants" in text
    assert "parameters[3].min: does not apply to a string parameter" in text
    assert "parameters[4]: a choice parameter needs exactly one of choices and choices_from" in text
    assert "parameters[5].regex: is not a valid regular expression" in text
    assert "parameters[6].min: min (5) is greater than max (1)" in text


def test_it_reports_conditions_that_can_never_hold():
    problems = _problems(
        definition(
            param("algo", "choice", choices=["rr", "hash"]),
            param("x", visible_if={"param": "algo", "equals": "random"}),
            param("y", visible_if={"param": "algo", "in": ["rr", "nope"]}),
        )
    )
    assert problems[0].startswith(
        "$.sections[0].parameters[1].visible_if.equals: 'algo' can never be 'random'"
    )
    assert problems[1].startswith("$.sections[0].parameters[2].visible_if.in[1]: 'algo' can never be 'nope'")


def test_it_refuses_secrets_as_drivers_of_other_fields():
    problems = _problems(
        definition(param("pw", "secret"), param("x", visible_if={"param": "pw", "equals": "a"}))
    )
    assert "a secret parameter cannot drive other fields" in problems[0]


def test_a_choices_from_map_must_cover_every_value_of_its_source():
    problems = _problems(
        definition(
            param("family", "choice", choices=["debian", "ubuntu"]),
            param(
                "image", "choice", choices_from={"param": "family", "map": {"debian": ["d"], "bsd": ["b"]}}
            ),
        )
    )
    assert problems == [
        "$.sections[0].parameters[1].choices_from.map: has no choices for family = 'ubuntu'",
        "$.sections[0].parameters[1].choices_from.map.bsd: 'bsd' is not one of the choices of 'family'",
    ]


def test_localised_texts_need_the_default_language():
    problems = _problems(
        definition({"name": "a", "type": "string", "label": {"de": "A"}}), default_language="en"
    )
    assert problems == ["$.sections[0].parameters[0].label: has no text in the default language 'en'"]
    assert compile_definition(
        definition({"name": "a", "type": "string", "label": {"de": "A"}}), default_language="de"
    )


def test_conditions_must_have_one_shape():
    problems = _problems(
        definition(param("a"), param("b", visible_if={"param": "a", "equals": "x", "in": ["y"]}))
    )
    assert "a condition is one of" in problems[0]


def test_the_schema_pass_reports_structure_with_paths():
    problems = _problems(
        {
            "sections": [
                {
                    "name": "s",
                    "label": "S",
                    "parameters": [{"name": "A", "type": "text", "label": 3, "colour": "red"}],
                }
            ]
        }
    )
    assert problems == [
        "$.sections[0].parameters[0].colour: unknown key",
        "$.sections[0].parameters[0].label: must be a string or an object, not a whole number",
        '$.sections[0].parameters[0].name: "A" does not match the pattern ^[a-z][a-z0-9_]{0,62}$',
        '$.sections[0].parameters[0].type: must be one of "string", "integer", "boolean", "choice", "secret", '
        '"ssh_public_key", "vm_size", "tenant_network", "hostname_prefix"; got "text"',
    ]


# --- form state --------------------------------------------------------------------------------


def test_form_state_shows_visible_fields_choices_and_labels_in_the_language():
    compiled = compile_definition(FARM)
    [section] = compiled.form_state({"family": "ubuntu"}, language="de")
    family, image = section.fields
    assert family.value == "ubuntu" and family.refresh is True
    assert image.choices == (("ubuntu-24.04", "Ubuntu (de)"),)
    assert image.value == ""


def test_form_state_keeps_invalid_input_as_typed_and_never_echoes_secrets():
    compiled = compile_definition(
        definition(
            param("n", "integer", max=3),
            param("pw", "secret"),
            param("tls", "boolean"),
            param("cert", visible_if={"param": "tls", "equals": True}),
        )
    )
    [section] = compiled.form_state(
        {"n": "12x", "pw": "hunter2", "tls": "on"}, errors={"n": ["Enter a whole number."]}
    )
    fields = {f.name: f for f in section.fields}
    assert fields["n"].value == "12x" and fields["n"].errors == ("Enter a whole number.",)
    assert fields["pw"].value == ""
    assert fields["cert"].visible is True
    [section] = compiled.form_state({})
    assert {f.name: f.visible for f in section.fields}["cert"] is False


def test_form_state_offers_the_contexts_sizes_with_labels():
    compiled = compile_definition(definition(param("size", "vm_size")))
    [section] = compiled.form_state(
        {}, Context(vm_sizes={"small": "Small: 1 vCPU", "large": "Large: 4 vCPU"})
    )
    assert section.fields[0].choices == (("small", "Small: 1 vCPU"), ("large", "Large: 4 vCPU"))
