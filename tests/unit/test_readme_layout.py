"""The README's layout table matches the tree: every path it names exists, and every top-level folder, every module
of the library and every operator and sensor module has its row."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath

REPO = Path(__file__).resolve().parents[2]


def layout_rows() -> list[tuple[list[str], str]]:
    """(paths named in the first column, the second column) for each row of the README's layout table."""
    text = (REPO / "README.md").read_text()
    section = text[text.index("## Layout") :]
    section = section[: section.index("\n## ", 3)]
    rows = []
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 2 or cells[0] in ("path", "---"):
            continue
        tokens = re.findall(r"`([^`]+)`", cells[0])
        base = PurePosixPath(tokens[0].rstrip("/")).parent
        paths = [tokens[0]]
        for token in tokens[1:]:
            repo_relative = "/" in token.rstrip("/") or str(base) == "."
            paths.append(token if repo_relative else f"{base}/{token}")
        rows.append((paths, cells[1]))
    return rows


def tracked() -> list[str]:
    return subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()


def test_every_path_the_layout_names_exists() -> None:
    rows = layout_rows()
    assert len(rows) > 15
    missing = [p for paths, _ in rows for p in paths if not (REPO / p).exists()]
    assert missing == []


def test_every_folder_library_module_and_plugin_has_its_row() -> None:
    rows = layout_rows()
    named = {p.rstrip("/") for paths, _ in rows for p in paths}
    words = " ".join(what for _, what in rows)
    files = tracked()
    tops = {f.split("/")[0] for f in files if "/" in f and not f.startswith(".")}
    assert sorted(t for t in tops if t not in named and not any(n.startswith(f"{t}/") for n in named)) == []
    library = {"/".join(f.split("/")[:2]).removesuffix(".py") for f in files if f.startswith("relengotron/")}
    library -= {"relengotron/__init__", "relengotron/cli"}  # the package itself and its command
    rowless = [m for m in sorted(library) if not any(n.removesuffix(".py") == m for n in named)]
    assert rowless == []
    plugins = {PurePosixPath(f).stem for f in files if f.startswith("plugins/") and f.endswith(".py")} - {"__init__"}
    assert sorted(p for p in plugins if f"`{p}`" not in words) == []
