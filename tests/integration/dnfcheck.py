"""What stock dnf reads of a yum repository, shared by the mash tests and the demo's. No tests here.

dnf runs against one repository given by path (``--repofrompath``), with a private cache and no system
repository; ``root`` is a scratch install root for the commands that relate to installed packages.
"""

from __future__ import annotations

from pathlib import Path

from relengotron.tools.run import run


def dnf(repo: Path, cache: Path, *args: str, root: Path | None = None, gpgkey: Path | None = None) -> str:
    """The output of ``dnf ARGS`` reading only ``repo`` (ToolError naming the command if dnf fails); with
    ``gpgkey``, packages are checked against that public key (gpgcheck on)."""
    argv = ["dnf", f"--repofrompath=mash,{repo.as_uri()}", "--repo=mash", "-q", f"--setopt=cachedir={cache}"]
    argv += ["--releasever=24", "--setopt=reposdir=/nonexistent"]
    if gpgkey is not None:
        argv += ["--setopt=mash.gpgcheck=1", f"--setopt=mash.gpgkey={gpgkey.absolute().as_uri()}"]
    if root is not None:
        argv.append(f"--installroot={root}")
    return run([*argv, *args], item=f"dnf {args[0]}").stdout.decode()


def advisories(repo: Path, scratch: Path) -> dict[str, list[str]]:
    """What dnf reads of the repository's updateinfo: advisory → the packages it names. ``dnf updateinfo list
    --all`` lists the advisories of installed packages, so every RPM of the repository is installed first
    (database only) into a scratch root."""
    root = scratch / "root"
    root.mkdir(parents=True)
    rpms = sorted(p for p in (repo / "Packages").rglob("*.rpm"))
    if rpms:
        run(["rpm", "--root", root, "-i", "--justdb", "--nodeps", "--noscripts", "--nosignature", *rpms], item="root")
    listing = dnf(repo, scratch / "cache", "updateinfo", "list", "--all", root=root)
    found = {word for word in listing.split() if word.startswith("FEDORA-")}
    return {
        alias: sorted(dnf(repo, scratch / alias, "repoquery", f"--advisory={alias}").split()) for alias in sorted(found)
    }
