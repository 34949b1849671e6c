"""PDC's query rules: paging math, filter parsing, ordering, field selection (pure functions)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from relengotron_sandbox.pdc_query import (
    BOOL,
    CHAR,
    DEP,
    INT,
    MULTI,
    MULTI_CI,
    NULLABLE,
    PRESENT,
    REGEX,
    Filter,
    apply_filters,
    check_params,
    dep_matches,
    field,
    order,
    page_size,
    paginate,
    select_fields,
)
from relengotron_sandbox.web import HTTPError

BASE = "http://127.0.0.1:8000/rest_api/v1/things/"
RECORDS = [
    {"id": 1, "name": "bash", "active": True, "tags": ["a", "b"], "branch": None, "deps": ["libc.so.6"]},
    {"id": 2, "name": "Bash-completion", "active": False, "tags": ["b"], "branch": "f24", "deps": ["bash >= 4.3"]},
    {"id": 3, "name": "kernel", "active": True, "tags": [], "branch": "master", "deps": ["bash", "foo = 1.0"]},
]
FILTERS = {
    "name": Filter(MULTI, field("name")),
    "iname": Filter(MULTI_CI, field("name")),
    "active": Filter(BOOL, field("active")),
    "id": Filter(INT, field("id")),
    "tag": Filter(MULTI, field("tags")),
    "branch": Filter(NULLABLE, field("branch")),
    "exact": Filter(CHAR, field("name")),
    "re": Filter(REGEX, field("name")),
    "requires": Filter(DEP, field("deps")),
    "has_branch": Filter(PRESENT, field("branch")),
}


def ids(**query: list[str]) -> list[int]:
    return [r["id"] for r in apply_filters(RECORDS, FILTERS, query)]


def error(call) -> HTTPError:
    with pytest.raises(HTTPError) as caught:
        call()
    return caught.value


def test_multi_value_filters_or_their_values_and_and_each_other() -> None:
    assert ids(name=["bash", "kernel"]) == [1, 3]
    assert ids(name=["bash", "kernel"], active=["true"]) == [1, 3]
    assert ids(name=["bash", "kernel"], active=["False"]) == []
    assert ids(iname=["BASH-COMPLETION"]) == [2]
    assert ids(tag=["b"]) == [1, 2]
    assert ids(name=[""]) == []  # an empty multi value matches nothing, as in PDC
    assert ids(id=["2", "3"]) == [2, 3]


def test_single_value_filters() -> None:
    assert ids(active=["T"]) == [1, 3] and ids(active=["0"]) == [2]
    assert ids(active=[""]) == [1, 2, 3]  # an empty single value is ignored
    assert ids(branch=["null"]) == [1] and ids(branch=["f24"]) == [2]
    assert ids(exact=["kernel"]) == [3]
    assert ids(re=["^[bB]ash"]) == [1, 2]
    assert ids(has_branch=["True"]) == [2, 3] and ids(has_branch=["False"]) == [1]
    assert ids(has_branch=["maybe"]) == [1, 2, 3]


def test_bad_filter_values_are_400_naming_the_filter() -> None:
    assert error(lambda: ids(active=["maybe"])).body == {"detail": "Value [maybe] of active is not a boolean"}
    assert error(lambda: ids(id=["x1"])).body == {"detail": "Value [x1] of id is not an integer"}
    bad_re = error(lambda: ids(re=["("]))
    assert bad_re.status == 400 and "(" in bad_re.body["detail"]
    assert error(lambda: ids(requires=["a > > b"])).body == {"detail": "Unrecognized value for filter for requires"}


def test_unknown_query_params() -> None:
    check_params({"name": ["x"], "page": ["2"], "page_size": ["5"], "fields": ["id"]}, FILTERS)
    check_params({"include_inactive_release": ["1"]}, FILTERS, extra=("include_inactive_release",))
    err = error(lambda: check_params({"zeta": [""], "alpha": ["1"], "name": ["x"]}, FILTERS))
    assert (err.status, err.body) == (400, {"detail": "Unknown query params: alpha, zeta."})


def test_dependency_filter() -> None:
    assert ids(requires=["bash"]) == [2, 3]
    assert ids(requires=["bash >= 4.0"]) == [2, 3]  # kernel's unversioned bash always matches
    assert ids(requires=["bash < 4.0"]) == [3]  # "bash >= 4.3" cannot be below 4.0
    assert ids(requires=["foo = 1.0"]) == [3] and ids(requires=["foo = 2.0"]) == []
    assert ids(requires=["foo > 0.5"]) == [3] and ids(requires=["foo < 0.5"]) == []


def test_dep_matches_is_pdcs_predicate() -> None:
    # query "= V" against a dependency "op DV"
    assert dep_matches("=", "1.0", "=", "1.0") and not dep_matches("=", "1.0", "=", "1.1")
    assert dep_matches("=", "1.0", "<", "2.0") and not dep_matches("=", "3.0", "<", "2.0")
    assert dep_matches("=", "3.0", ">=", "2.0") and not dep_matches("=", "1.0", ">=", "2.0")
    # open ranges: a dependency with the same direction always overlaps
    assert dep_matches(">", "9", ">=", "1") and dep_matches("<", "1", "<", "9")
    assert dep_matches(">", "1", "=", "2") and not dep_matches(">", "2", "=", "1")
    assert dep_matches(">=", "2", "=", "2") and dep_matches("<=", "2", "=", "2")
    assert not dep_matches("<=", "1", "=", "2")


def test_page_size_rules() -> None:
    assert page_size({}) == 20
    assert page_size({"page_size": ["5"]}) == 5
    assert page_size({"page_size": ["1000"]}) == 100
    assert page_size({"page_size": ["abc"]}) == 20
    assert page_size({"page_size": ["0"]}) is None and page_size({"page_size": ["-1"]}) is None


def test_paging_math_and_links() -> None:
    items = list(range(45))
    first = paginate(items, {"page_size": ["20"], "name": ["x"]}, BASE)
    assert isinstance(first, dict) and list(first) == ["count", "next", "previous", "results"]
    assert first["count"] == 45 and first["results"] == list(range(20)) and first["previous"] is None
    assert first["next"] == BASE + "?name=x&page=2&page_size=20"
    second = paginate(items, {"page": ["2"], "page_size": ["20"], "name": ["x"]}, BASE)
    assert second["previous"] == BASE + "?name=x&page_size=20"  # DRF drops page=1
    assert second["next"] == BASE + "?name=x&page=3&page_size=20"
    third = paginate(items, {"page": ["3"], "page_size": ["20"]}, BASE)
    assert third["results"] == list(range(40, 45)) and third["next"] is None
    assert parse_qs(urlsplit(third["previous"]).query) == {"page": ["2"], "page_size": ["20"]}
    assert paginate(items, {"page": ["last"]}, BASE)["results"] == list(range(40, 45))
    assert paginate(items, {"page_size": ["-1"]}, BASE) == items
    empty = paginate([], {}, BASE)
    assert empty == {"count": 0, "next": None, "previous": None, "results": []}
    for bad in ("0", "4", "abc", ""):
        err = error(lambda bad=bad: paginate(items, {"page": [bad]}, BASE))
        assert (err.status, err.body) == (404, {"detail": "Invalid page."})


def test_ordering() -> None:
    names = ["id", "name", "active", "branch"]
    assert [r["id"] for r in order(RECORDS, {"ordering": ["-id"]}, names)] == [3, 2, 1]
    assert [r["id"] for r in order(RECORDS, {"ordering": ["active,-name"]}, names)] == [2, 3, 1]
    assert [r["id"] for r in order(RECORDS, {"ordering": ["branch"]}, names)] == [2, 3, 1]  # nulls last
    assert order(RECORDS, {}, names) == RECORDS
    err = error(lambda: order(RECORDS, {"ordering": ["-colour"]}, names))
    assert err.status == 400 and "colour" in err.body["detail"]


def test_field_selection() -> None:
    names = ["id", "name", "active", "tags", "branch", "deps"]
    assert select_fields(RECORDS, {"fields": ["id,name"]}, names)[0] == {"id": 1, "name": "bash"}
    assert select_fields(RECORDS, {"fields": ["id", "name"], "exclude_fields": ["name"]}, names)[0] == {"id": 1}
    assert set(select_fields(RECORDS, {"exclude_fields": ["deps"]}, names)[1]) == set(names) - {"deps"}
    err = error(lambda: select_fields(RECORDS, {"fields": ["id,colour"]}, names))
    assert err.body == {"detail": 'Unknown fields in "fields" filter: colour'}
