"""yamlfile: errors name the file, the line and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from relengotron.yamlfile import Fields, FileError, load


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "conf.yaml"
    path.write_text(text)
    return path


def test_lines_are_kept_for_keys_and_items(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nitems:\n  - x: 1\n  - x: 2\n    y: z\n")
    data = load(path)
    assert data.key_lines == {"a": 1, "items": 2}
    assert data["items"].item_lines == [3, 4]
    assert data["items"][1].key_lines["y"] == 5


def test_duplicate_key_is_an_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: 2\na: 3\n")
    with pytest.raises(FileError) as caught:
        load(path)
    assert caught.value.line == 3 and caught.value.key == "a"
    assert str(caught.value).startswith(f"{path}:3: a: duplicate key")


def test_syntax_error_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "a: 1\nb: [1, 2\nc: 3\n")
    with pytest.raises(FileError, match=rf"^{path}:\d+: not valid YAML"):
        load(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileError, match="cannot read"):
        load(tmp_path / "nope.yaml")


def test_fields_types_unknown_keys_and_nested_paths(tmp_path: Path) -> None:
    path = write(tmp_path, "release:\n  name: F24\n  version: 24\n  active: yes\n  arches: [x86_64, 3]\n  typo: 1\n")
    top = Fields(path, load(path), "")
    rel = top.mapping("release")
    assert rel.text("name") == "F24"
    assert rel.text("version") == "24"  # a bare number is accepted as text
    assert rel.get("active", bool) is True
    assert rel.strings("arches") == ["x86_64", "3"]
    with pytest.raises(FileError) as caught:
        rel.done()
    assert (caught.value.line, caught.value.key) == (6, "release.typo")
    with pytest.raises(FileError, match=r":2: release.name: must be an integer, not str"):
        rel.get("name", int)
    with pytest.raises(FileError, match=r"release: missing required key 'dist'"):
        rel.text("dist")
    with pytest.raises(FileError, match=r":2: release.name: must be one of a, b, not 'F24'"):
        rel.choice("name", ("a", "b"))


def test_list_items_report_their_own_line(tmp_path: Path) -> None:
    path = write(tmp_path, "things:\n  - {name: a}\n  - {name: b}\n  - name: ''\n")
    top = Fields(path, load(path), "")
    names = []
    with pytest.raises(FileError) as caught:
        for _, item in top.items("things"):
            names.append(item.text("name"))
    assert names == ["a", "b"]
    assert (caught.value.line, caught.value.key) == (4, "things[2].name")


def test_booleans_are_not_strings_or_numbers(tmp_path: Path) -> None:
    path = write(tmp_path, "n: true\n")
    top = Fields(path, load(path), "")
    with pytest.raises(FileError, match="not a boolean"):
        top.get("n", int)
