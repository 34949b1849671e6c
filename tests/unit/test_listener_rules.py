"""Listener routing rules: loading (errors name the file, the line, the rule, the reason), topic globs and body
filters, schemas of known topics, conf templates, and the dag_run_ids derived from messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from listener_samples import bodhi_message, bodhi_update, envelope, koji_tag, resultsdb_result, taskotron_result

from relengotron.listener.rules import MessageView, RuleSet, batch_run_id, load_rules, single_run_id
from relengotron.listener.templates import TemplateError, compile_tree
from relengotron.yamlfile import FileError

NVR = "{{ msg.name }}-{{ msg.version }}-{{ msg.release }}"


def view(message: dict) -> MessageView:
    return MessageView(message["topic"], message["msg"], message["msg_id"], message["timestamp"], message["username"])


def rules_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text)
    return path


def load(tmp_path: Path, text: str) -> RuleSet:
    return load_rules(rules_file(tmp_path, text))


GATE = f"""
rules:
  - name: gate
    topics: ["*.buildsys.tag"]
    match: {{tag: rawhide-pending}}
    dag_id: rawhide_gating
    conf: {{release: rawhide, builds: ["{NVR}"]}}
"""


def test_a_tag_event_becomes_one_run_whose_id_comes_from_the_msg_id(tmp_path: Path) -> None:
    rules = load(tmp_path, GATE)
    message = envelope("buildsys.tag", koji_tag("rawhide-pending", "glibc-2.24-1.fc26"), msg_id="2016-abc")
    routing = rules.route(view(message))
    (route,) = routing.routes
    assert route.dag_id == "rawhide_gating"
    assert route.dag_run_id == "gate__2016-abc" == single_run_id("gate", "2016-abc")
    assert route.conf == {"release": "rawhide", "builds": ["glibc-2.24-1.fc26"]}
    # the same message again (a replay) gets the same id: Airflow answers 409, nothing runs twice
    assert rules.route(view(message)).routes[0].dag_run_id == route.dag_run_id


def test_other_tags_and_other_topics_are_not_routed(tmp_path: Path) -> None:
    rules = load(tmp_path, GATE)
    for message in (
        envelope("buildsys.tag", koji_tag("f24-updates-candidate", "glibc-2.23.1-8.fc24")),
        envelope("buildsys.untag", koji_tag("rawhide-pending", "glibc-2.24-1.fc26")),
        envelope("wiki.article.edit", {"title": "Releases/24"}),
    ):
        routing = rules.route(view(message))
        assert routing.unrouted and not routing.problems


def test_filters_regex_groups_lists_any_item_not_present_in_set_numbers(tmp_path: Path) -> None:
    rules = load(
        tmp_path,
        """
sets:
  packagers: [siddhesh, ralph]
rules:
  - name: signing
    topics: ["*.buildsys.tag"]
    match:
      tag: {regex: '(?P<release>f\\d+)-signing-pending'}
      owner: {in_set: packagers}
      user: {not: [bot-*, robot]}
      build_id: 785412
      instance: {present: true}
      volume: {present: false}
    dag_id: autosign
    conf: {release: "{{ groups.release }}", builds: ["NVR"]}
  - name: results
    topics: ["*.resultsdb.result.new"]
    match: {data.item: "*.fc26", outcome: [PASSED, INFO], note: ""}
    dag_id: rawhide_gating
    conf: {builds: "{{ msg.data.item }}"}
""".replace('"NVR"', f'"{NVR}"'),
    )
    tag = koji_tag("f24-signing-pending", "curl-7.47.1-5.fc24")
    (route,) = rules.route(view(envelope("buildsys.tag", tag))).routes
    assert route.conf == {"release": "f24", "builds": ["curl-7.47.1-5.fc24"]}
    for change in ({"owner": "mallory"}, {"user": "bot-mass-rebuild"}, {"build_id": 1}, {"tag": "f24-signing"}):
        assert rules.route(view(envelope("buildsys.tag", {**tag, **change}))).unrouted, change
    without_instance = {k: v for k, v in tag.items() if k != "instance"}
    assert rules.route(view(envelope("buildsys.tag", without_instance))).unrouted

    # a list value (ResultsDB's data.item) matches when one of its items does
    passed = resultsdb_result("glibc-2.24-1.fc26", "dist.depcheck", "PASSED")
    (route,) = rules.route(view(envelope("resultsdb.result.new", passed))).routes
    assert route.conf == {"builds": ["glibc-2.24-1.fc26"]}
    failed = resultsdb_result("glibc-2.24-1.fc26", "dist.depcheck", "FAILED")
    assert rules.route(view(envelope("resultsdb.result.new", failed))).unrouted
    older = resultsdb_result("glibc-2.23.1-8.fc24", "dist.depcheck", "PASSED")
    assert rules.route(view(envelope("resultsdb.result.new", older))).unrouted


def test_every_matching_rule_routes_the_message(tmp_path: Path) -> None:
    rules = load(
        tmp_path,
        GATE
        + """
  - name: audit
    topics: ["org.fedoraproject.*.buildsys.*"]
    dag_id: audit
    conf: {tag: "{{ msg.tag }}", by: "{{ username }}", topic: "{{ topic }}"}
""",
    )
    message = envelope("buildsys.tag", koji_tag("rawhide-pending", "glibc-2.24-1.fc26"), username="kojihub")
    routes = rules.route(view(message)).routes
    assert [r.rule for r in routes] == ["gate", "audit"]
    assert routes[1].conf == {"tag": "rawhide-pending", "by": "kojihub", "topic": message["topic"]}


def test_conf_templates_keep_types_and_read_bodhi_update_fields(tmp_path: Path) -> None:
    rules = load(
        tmp_path,
        """
rules:
  - name: push
    topics: ["*.bodhi.update.request.*"]
    dag_id: updates_push
    conf:
      alias: "{{ msg.update.alias }}"
      builds: "{{ msg.update.builds | map(attribute='nvr') }}"
      bugs: "{{ msg.update.bugs | map(attribute='bug_id') | list }}"
      count: "{{ msg.update.builds | length }}"
      critpath: "{{ msg.update.critpath }}"
      severity: "{{ msg.update.severity }}"
      label: "{{ msg.update.release.name }}: {{ msg.update.title }}"
      names: "{{ msg.update.builds | map(attribute='nvr') | map('nvr_name') | list }}"
      literal: [1, true, null, plain]
""",
    )
    update = bodhi_update("FEDORA-2016-1a2b3c", ["glibc-2.23.1-8.fc24", "nscd-2.23.1-8.fc24"], bugs=(1, 2))
    (route,) = rules.route(view(envelope("bodhi.update.request.stable", bodhi_message(update)))).routes
    assert route.conf == {
        "alias": "FEDORA-2016-1a2b3c",
        "builds": ["glibc-2.23.1-8.fc24", "nscd-2.23.1-8.fc24"],  # an iterator becomes a list
        "bugs": [1, 2],
        "count": 2,
        "critpath": False,
        "severity": "medium",
        "label": "F24: glibc-2.23.1-8.fc24 nscd-2.23.1-8.fc24",
        "names": ["glibc", "nscd"],
        "literal": [1, True, None, "plain"],
    }
    json.dumps(route.conf)


def test_a_template_failing_on_a_body_is_a_problem_naming_rule_and_field(tmp_path: Path) -> None:
    rules = load(tmp_path, GATE)
    body = koji_tag("rawhide-pending", "glibc-2.24-1.fc26")
    del body["version"]
    routing = rules.route(view(envelope("buildsys.tag", body)))
    assert routing.routes == ()
    (problem,) = routing.problems
    assert problem.startswith("rule gate: rules.gate.conf.builds[0]:") and "'version'" in problem


def test_field_schemas_dead_letter_topics_no_schema_package_covers(tmp_path: Path) -> None:
    rules = load(
        tmp_path,
        """
schemas:
  - topics: ["*.bodhi.masher.start"]
    fields:
      updates: list
      updates.*: string
      resume: "boolean?"
      builds.*.nvr: "string?"
      release.branch: string
rules:
  - name: push
    topics: ["*.bodhi.masher.start"]
    dag_id: masher_start
    conf: {n: "{{ msg.updates | length }}"}
""",
    )
    good = {"updates": ["glibc-2.23.1-8.fc24"], "resume": False, "release": {"branch": "f24"}}
    assert rules.route(view(envelope("bodhi.masher.start", good))).routes
    cases = [
        ({"updates": "glibc-2.23.1-8.fc24"}, "field 'updates' must be a list, not a string"),
        ({"updates": ["a-1-1", 7]}, "field 'updates[1]' must be a string, not an int"),
        ({"resume": "yes"}, "field 'resume' must be a boolean, not a string"),
        ({"builds": [{"nvr": "a-1-1"}, {"nvr": 7}]}, "field 'builds[1].nvr' must be a string, not an int"),
        ({"release": {"name": "F24"}}, "field 'release.branch' is missing"),
        ({"release": None}, "field 'release' is missing"),
    ]
    for change, reason in cases:
        routing = rules.route(view(envelope("bodhi.masher.start", {**good, **change})))
        assert routing.problems == (reason,), change
    assert rules.route(view(envelope("bodhi.masher.start", {"resume": True}))).problems == (
        "field 'updates' is missing",
    )


def test_the_publishers_schema_packages_judge_the_topics_they_cover(tmp_path: Path) -> None:
    """Bodhi's and Koji's own message classes, found by topic (the bus prefix left out), refuse what they refuse
    with their reason; a body they accept goes on to the rules, whatever fields it lacks that they allow. A
    topic no rule listens on is dropped unjudged: nothing is to be done with it, so nobody needs its letter."""
    listening = (
        GATE
        + """
  - name: composes
    topics: ["*.bodhi.compose.composing", "*.bodhi.update.edit"]
    match: {repo: no-such-repo}
    dag_id: updates_push
    conf: {repo: "{{ msg.repo }}"}
"""
    )
    rules = load(tmp_path, listening)
    assert rules.schemas.describe("org.fedoraproject.prod.buildsys.tag").startswith("TagV1 (koji-fedoramessaging")
    assert rules.schemas.describe("org.fedoraproject.stg.bodhi.compose.composing").startswith("ComposeComposingV1")
    assert rules.schemas.describe("org.fedoraproject.prod.resultsdb.result.new").startswith("none")
    bad = koji_tag("rawhide-pending", "glibc-2.24-1.fc26") | {"build_id": "785412"}
    (problem,) = rules.route(view(envelope("buildsys.tag", bad))).problems
    assert problem.startswith("TagV1 (koji-fedoramessaging-messages ")
    assert problem.endswith("refuses the body: field 'build_id': '785412' is not of type 'integer'")
    composing = {"agent": "bowlofeggs", "repo": "f24-updates"}
    assert rules.route(view(envelope("bodhi.compose.composing", composing))).unrouted  # valid, no rule matches
    (problem,) = rules.route(view(envelope("bodhi.compose.composing", {"agent": "x"}))).problems
    assert problem.endswith("'repo' is a required property")
    # several versions of a class on one topic: a body any of them accepts passes
    edit = rules.route(view(envelope("bodhi.update.edit", {"agent": 5})))
    assert "UpdateEditV1" in edit.problems[0] and "UpdateEditV2" in edit.problems[0]
    # no rule listens on bodhi.update.comment: a body breaking its schema is dropped, not dead-lettered
    comment = rules.route(view(envelope("bodhi.update.comment", {"agent": 5})))
    assert comment.unrouted and not comment.problems


def test_schema_packages_are_named_in_the_rules_file(tmp_path: Path) -> None:
    none = load(tmp_path, "schema_packages: []\n" + GATE)
    assert none.route(view(envelope("buildsys.tag", {"build_id": "x"}))).unrouted  # nothing validates buildsys.tag
    with pytest.raises(FileError, match="schema package 'no-such-messages' is not installed"):
        load(tmp_path, "schema_packages: [no-such-messages]\n" + GATE)
    with pytest.raises(FileError, match=r"schemas\[0\]\.topics\[0\]: '\*\.buildsys\.tag' is covered by TagV1"):
        load(tmp_path, "schemas:\n  - topics: ['*.buildsys.tag']\n    fields: {tag: string}\n" + GATE)


def test_batch_routes_carry_the_key_and_item_and_the_conf_is_built_from_the_items(tmp_path: Path) -> None:
    rules = load(
        tmp_path,
        f"""
rules:
  - name: autosign
    topics: ["*.buildsys.tag"]
    match: {{tag: "*-signing-pending"}}
    dag_id: autosign
    batch: {{key: "{{{{ msg.tag }}}}", item: "{NVR}", window_seconds: 30, max_items: 1000}}
    conf: {{release: "{{{{ key | strip_suffix('-signing-pending') }}}}", builds: "{{{{ items | unique | list }}}}",
            window: "{{{{ window_start | strftime('%H:%M:%S') }}}}", n: "{{{{ count }}}}"}}
""",
    )
    (route,) = rules.route(view(envelope("buildsys.tag", koji_tag("f24-signing-pending", "a-1-1.fc24")))).routes
    assert route.dag_run_id is None and route.conf is None
    assert (route.batch_key, route.item, route.window_seconds) == ('"f24-signing-pending"', "a-1-1.fc24", 30.0)
    assert route.max_items == 1000
    conf = rules.batch_conf("autosign", route.batch_key, ["a-1-1.fc24", "b-1-1.fc24", "a-1-1.fc24"], 3600.5, 3630.5)
    assert conf == {"release": "f24", "builds": ["a-1-1.fc24", "b-1-1.fc24"], "window": "01:00:00", "n": 3}


def test_batch_run_ids_are_fixed_by_rule_key_and_window_start() -> None:
    first = batch_run_id("autosign", '"f24-signing-pending"', 1466000000.25)
    assert first == "autosign__f24-signing-pending__20160615T141320.250000Z"
    assert batch_run_id("autosign", '"f24-signing-pending"', 1466000000.25) == first
    assert batch_run_id("autosign", '"f24-signing-pending"', 1466000000.5) != first
    # keys that are not plain words get a digest, so two keys never share an id
    one = batch_run_id("push", '{"release":"f24","request":"stable"}', 1466000000)
    assert one.startswith("push__f24-stable.") and one.endswith("__20160615T141320.000000Z")
    assert one != batch_run_id("push", '{"release":"f24","request":"testing"}', 1466000000)
    assert batch_run_id("push", '"a b"', 1) != batch_run_id("push", '"a/b"', 1)


def test_unknown_topics_and_bodies_of_other_shapes(tmp_path: Path) -> None:
    rules = load(tmp_path, GATE)
    legacy = taskotron_result("glibc-2.24-1.fc26", "dist.depcheck", "PASSED", "FAILED")
    assert rules.route(view(envelope("taskotron.result.new", legacy))).unrouted


BASE = "rules:\n  - name: x\n    topics: [a]\n    dag_id: d\n    conf: {}\n"  # lines 1-5; cases add line 6


@pytest.mark.parametrize(
    ("text", "line", "key", "reason"),
    [
        ("rules: []\n", 1, "rules", "no rules"),
        ("rules:\n  - name: a b\n", 2, "rules[0].name", "must match"),
        (BASE.replace("[a]", "[]"), 3, "rules.x.topics", "at least one"),
        (BASE.replace("dag_id: d", "dag_id: 'no way'"), 4, "rules.x.dag_id", "not a DAG id"),
        (BASE.replace("{}", "{a: '{{ msg. }}'}"), 5, "rules.x.conf", "syntax"),
        (BASE + "    colour: red\n", 6, "rules.x.colour", "unknown key"),
        (BASE + "    when: 'a =='\n", 6, "rules.x.when", "syntax"),
        (BASE + "    match: {tag: {regex: '('}}\n", 6, "rules.x.match.tag", "bad regex"),
        (BASE + "    match: {tag: {in_set: nope}}\n", 6, "rules.x.match.tag", "unknown set"),
        (BASE + "    match: {tag: {regex: a, glob: b}}\n", 6, "rules.x.match.tag", "exactly one"),
        (BASE + "    match: {tag: []}\n", 6, "rules.x.match.tag", "matches nothing"),
        (BASE + "    batch: {key: k, item: i, window_seconds: 5}\n", 6, "rules.x.batch.key", "literal key"),
        (
            BASE + "    batch: {key: '{{ msg.a }}', item: i, window_seconds: 0}\n",
            6,
            "rules.x.batch.window_seconds",
            "more than 0",
        ),
        (
            BASE + "    batch: {key: '{{ msg.a }}', item: i, window_seconds: 5, max_items: 0}\n",
            6,
            "rules.x.batch.max_items",
            "at least 1",
        ),
        (BASE + BASE.split("\n", 1)[1], 6, "rules[1].name", "duplicate rule name 'x'"),
        ("schemas:\n  - topics: [a]\n    fields: {tag: text}\nrules: []\n", 3, "schemas[0].fields.tag", "field type"),
    ],
)
def test_a_bad_rule_stops_the_start_naming_file_line_rule_and_reason(
    tmp_path: Path, text: str, line: int, key: str, reason: str
) -> None:
    path = rules_file(tmp_path, text)
    with pytest.raises(FileError) as caught:
        load_rules(path)
    error = caught.value
    assert (error.path, error.line, error.key) == (str(path), line, key), str(error)
    assert reason in error.reason and str(error).startswith(f"{path}:{line}: {key}:")


def test_templates_compile_errors_and_sandbox() -> None:
    with pytest.raises(TemplateError, match=r"^here: template syntax error"):
        compile_tree("{{ a b }}", "here")
    node = compile_tree("{{ msg.__class__.__mro__ }}", "conf.x")
    with pytest.raises(TemplateError, match=r"^conf\.x:"):
        node.render({"msg": {}})
    assert compile_tree("{{ msg.update }}", "w").render({"msg": {"update": 5}}) == 5  # the field, not dict.update
    with pytest.raises(TemplateError, match="not an N-V-R"):
        compile_tree("{{ 'glibc' | nvr_name }}", "w").render({})
    with pytest.raises(TemplateError, match="does not end with"):
        compile_tree("{{ 'f24-updates' | strip_suffix('-signing-pending') }}", "w").render({})
