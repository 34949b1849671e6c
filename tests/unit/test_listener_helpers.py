"""What the rules may use besides the message: the release helpers (the release of an NVR or a Koji tag, a
release's tag of a role, from the release configuration), the shapes the DAGs take (``is nvr``,
``is update_title``, ``is push_id``, ``is list_of``), and ``ignore`` clauses — a message a rule leaves alone on
purpose, with its reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from listener_samples import envelope, koji_tag

from relengotron.listener.releases import ReleaseHelperError, Releases
from relengotron.listener.rules import Ignored, MessageView, RuleSet, load_rules
from relengotron.listener.templates import TemplateError, compile_tree
from relengotron.yamlfile import FileError
from relengotron_sandbox import testing

F24 = testing.release(
    "f24",
    dist="fc24",
    tags={"candidate": "f24-updates-candidate", "signing_pending": "f24-signing-pending", "stable": "f24-updates"},
)
RAWHIDE = testing.release("rawhide", dist="fc26", tags={"pending": "rawhide-pending", "build": "rawhide"})
CONFIG = testing.release_config([F24, RAWHIDE])


def view(message: dict) -> MessageView:
    return MessageView(message["topic"], message["msg"], message["msg_id"], message["timestamp"], message["username"])


def load(tmp_path: Path, text: str, releases=CONFIG) -> RuleSet:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return load_rules(path, releases)


def test_the_release_of_an_nvr_is_found_by_its_dist_tag() -> None:
    releases = Releases(CONFIG)
    assert releases.release_of_nvr("glibc-2.24-1.fc26") == "rawhide"
    assert releases.release_of_nvr("glibc-2.23.1-8.fc24.1") == "f24"  # a post-release bump still counts
    for other in ("glibc-2.24-1.el7", "glibc-2.24-1fc26", "fc26", "a b-1-1.fc26", None, 7, ["glibc-2.24-1.fc26"]):
        assert releases.release_of_nvr(other) is None, other


def test_a_tag_names_its_release_and_a_release_its_tags() -> None:
    releases = Releases(CONFIG)
    assert releases.release_of_tag("rawhide-pending") == "rawhide"
    assert releases.release_of_tag("rawhide-pending", "pending") == "rawhide"
    assert releases.release_of_tag("f24-updates", ["testing", "stable"]) == "f24"
    assert releases.release_of_tag("f24-updates-candidate", ["testing", "stable"]) is None
    assert releases.release_of_tag("epel7", None) is None and releases.release_of_tag(None, "pending") is None
    assert releases.tag_of("rawhide", "pending") == "rawhide-pending"
    assert releases.tag_of("f24", "pending") is None and releases.tag_of("f99", "stable") is None
    with pytest.raises(ReleaseHelperError, match="unknown tag role 'pendign'"):
        releases.release_of_tag("rawhide-pending", "pendign")


def test_templates_see_the_release_helpers_and_the_shapes_the_dags_take() -> None:
    variables = {"releases": Releases(CONFIG), "msg": koji_tag("rawhide-pending", "glibc-2.24-1.fc26")}

    def render(text: str, **more: object) -> object:
        return compile_tree(text, "t").render({**variables, **more})

    assert render("{{ msg.tag | release_of_tag('pending') }}") == "rawhide"
    assert render("{{ msg | build_nvr | release_of_nvr | tag_of('pending') }}") == "rawhide-pending"
    assert render("{{ msg.missing | release_of_tag }}") is None  # a missing field: none, not an error
    assert render("{{ msg | build_nvr }}") == "glibc-2.24-1.fc26"
    assert render("{{ {'name': 'a'} | build_nvr }}") is None
    assert render("{{ 'glibc-2.23.1-8.fc24' is nvr }}") is True
    assert render("{{ 'glibc-2.23.1-8.fc24 nscd-2.23.1-8.fc24' is update_title }}") is True
    assert render("{{ 'glibc-2.23.1-8.fc24  nscd-2.23.1-8.fc24' is update_title }}") is False
    assert render("{{ '2016-1a2b' is push_id }}") is True and render("{{ '2016~1' is push_id }}") is False
    assert render("{{ x is list_of('nvr') }}", x=["a-1-1", "b-2-2"]) is True
    assert render("{{ x is list_of('nvr') }}", x=["a-1-1", 7]) is False
    assert render("{{ x is list_of('nvr') }}", x="a-1-1") is False
    with pytest.raises(TemplateError, match="unknown shape 'nrv'"):
        render("{{ x is list_of('nrv') }}", x=[])
    with pytest.raises(TemplateError, match="names no release configuration"):
        compile_tree("{{ 'a' | release_of_tag }}", "t").render({})


IGNORING = """
rules:
  - name: sign
    topics: ["*.buildsys.tag"]
    when: "msg.tag | release_of_tag('signing_pending')"
    ignore:
      - when: "msg.owner == 'bot'"
        reason: "built by {{ msg.owner }}: signed elsewhere"
      - when: "msg | build_nvr is not nvr"
        reason: "{{ msg.nosuchfield }} is not an N-V-R"
    dag_id: autosign
    conf: {release: "{{ msg.tag | release_of_tag('signing_pending') }}", builds: ["{{ msg | build_nvr }}"]}
  - name: audit
    topics: ["*.buildsys.tag"]
    dag_id: audit
    conf: {tag: "{{ msg.tag }}"}
"""


def test_the_first_ignore_clause_that_holds_names_the_reason_and_other_rules_still_route(tmp_path: Path) -> None:
    rules = load(tmp_path, IGNORING)
    (sign, audit) = rules.route(view(envelope("buildsys.tag", koji_tag("f24-signing-pending", "a-1-1.fc24")))).routes
    assert sign.batch_key is None and sign.conf == {"release": "f24", "builds": ["a-1-1.fc24"]}
    assert audit.rule == "audit"
    bot = koji_tag("f24-signing-pending", "a-1-1.fc24", owner="bot")
    routing = rules.route(view(envelope("buildsys.tag", bot)))
    assert [r.rule for r in routing.routes] == ["audit"] and routing.problems == ()
    assert routing.ignored == (Ignored("sign", "built by bot: signed elsewhere"),)
    # a reason that cannot be rendered is given as written: the message is still ignored, not dead-lettered
    spaced = koji_tag("f24-signing-pending", "a-1-1.fc24") | {"name": "a b"}
    routing = rules.route(view(envelope("buildsys.tag", spaced)))
    assert routing.ignored == (Ignored("sign", "{{ msg.nosuchfield }} is not an N-V-R"),) and not routing.problems
    # a tag of no release: the rule's when does not hold, nothing is said
    assert [r.rule for r in rules.route(view(envelope("buildsys.tag", koji_tag("f24", "a-1-1.fc24")))).routes] == [
        "audit"
    ]


def test_an_ignore_clause_failing_on_a_body_dead_letters_it(tmp_path: Path) -> None:
    rules = load(tmp_path, IGNORING.replace("msg.owner == 'bot'", "msg.owner.name == 'bot'"))
    routing = rules.route(view(envelope("buildsys.tag", koji_tag("f24-signing-pending", "a-1-1.fc24"))))
    assert [r.rule for r in routing.routes] == ["audit"]
    (problem,) = routing.problems
    assert problem.startswith("rule sign: rules.sign.ignore[0].when:")


BASE = "rules:\n  - name: x\n    topics: [a]\n    dag_id: d\n    conf: {}\n"  # lines 1-5


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        (BASE + "    ignore: [{when: 'a =='}]\n", 6, "rules.x.ignore[0].when", "syntax"),
        (BASE + "    ignore: [{when: 'true'}]\n", 6, "rules.x.ignore[0]", "missing required key 'reason'"),
        (BASE + "    ignore: [{when: 'true', reason: r, colour: red}]\n", 6, "rules.x.ignore[0].colour", "unknown"),
        (BASE.replace("{}", "{r: \"{{ msg.tag | release_of_tag('pendign') }}\"}"), 2, "rules[0].name", "pendign"),
        (BASE + "    when: \"'x' | tag_of('stabel')\"\n", 2, "rules[0].name", "unknown tag role 'stabel'"),
    ],
)
def test_a_bad_ignore_clause_or_role_stops_the_start(tmp_path: Path, text: str, line: int, key: str, reason: str):
    with pytest.raises(FileError) as caught:
        load(tmp_path, text)
    error = caught.value
    assert (error.line, error.key) == (line, key), str(error)
    assert reason in error.reason


def test_rules_using_release_helpers_need_a_release_configuration(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="rule sign uses release_of_tag, but no release configuration is given"):
        load(tmp_path, IGNORING, releases=None)
    load(tmp_path, BASE, releases=None)  # rules that do not use them do not need one
