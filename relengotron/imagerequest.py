"""What an image artifact asks Koji for: its kickstart and the options of the Koji method that builds it.

Fedora described each image by a kickstart from fedora-kickstarts (https://pagure.io/fedora-kickstarts, e.g.
``fedora-cloud-base.ks``, ``fedora-cloud-atomic-pxetolive.ks``) and had Pungi ask Koji for it with the options
its configuration set per image (Pungi's ``image_build`` and ``live_media`` phases, doc/configuration.rst):
``kickstart``, ``ksurl`` (``git+https://pagure.io/fedora-kickstarts.git?#<ref>``), ``ksversion``, ``distro``,
``disk_size``, ``format``, ... Pungi passes them to the koji CLI, which sends them to the hub unchanged
(koji_cli/commands.py ``_build_image_oz`` and ``_build_image``). This module is the release configuration's
side of that: :class:`ImageRequest` (one artifact's ``image_request`` mapping) and the pykickstart checks a
kickstart in the repository gets when the configuration is loaded. Pure: it reads the kickstart file only.

The Koji methods and the options each accepts (koji_cli's pass-through lists, koji 1.36):

- ``image`` — ``buildImageOz(name, version, arches, target, inst_tree, opts)``, kojid's BuildBaseImageTask and
  its ``createImage`` children (Oz/ImageFactory installs the kickstart into a disk image, then converts it to
  each ``format``): the cloud images;
- ``livemedia`` — ``buildImage(name, version, arches, target, ksfile, 'livemedia', opts)``, kojid's
  BuildLiveMediaTask and its ``createLiveMedia`` children (livemedia-creator ``--make-iso --no-virt``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pykickstart.errors import KickstartError
from pykickstart.parser import KickstartParser
from pykickstart.version import makeVersion, versionMap

from relengotron.yamlfile import Fields

# The opts each method's koji CLI command passes through to the hub (koji_cli/commands.py: ``_build_image_oz``'s
# ``hub_opts`` loop and ``_build_image``'s ``passthru_opts``). kojid reads them with ``opts.get``: an unknown
# key is silently ignored there, so this list is what keeps a misspelt option from being lost.
KOJI_OPTIONS: dict[str, frozenset[str]] = {
    "image": frozenset(
        {
            "ksurl",
            "ksversion",
            "kickstart",
            "scratch",
            "repo",
            "release",
            "skip_tag",
            "specfile",
            "distro",
            "format",
            "disk_size",
            "ova_option",
            "factory_parameter",
            "optional_arches",
            "noverifyssl",
        }
    ),
    "livemedia": frozenset(
        {
            "format",
            "install_tree_url",
            "isoname",
            "ksurl",
            "ksversion",
            "release",
            "repo",
            "scratch",
            "skip_tag",
            "specfile",
            "vcpu",
            "vmem",
            "volid",
            "optional_arches",
            "lorax_dir",
            "lorax_url",
            "nomacboot",
            "ksrepo",
            "squashfs_only",
            "compress_arg",
        }
    ),
}
# Options releng-o-tron sets itself on every request (the kickstart and where it comes from, the signed
# repositories, never a scratch build, the image build left untagged, Koji's next release): a configuration
# may not set them. ``ksrepo`` would keep the kickstart's own repositories instead of the signed ones.
OWN_OPTIONS = frozenset(
    {"kickstart", "ksurl", "ksversion", "repo", "scratch", "skip_tag", "release", "ksrepo", "install_tree_url"}
)
# Options that only make sense for what releng-o-tron never asks for (an RPM wrapper, arches allowed to fail,
# TLS checks off): refused so that a configuration cannot weaken what is built.
REFUSED_OPTIONS = frozenset({"specfile", "optional_arches", "noverifyssl", "lorax_url", "lorax_dir"})
# kojid's BaseImageTask.supported_formats (``image``); ``livemedia`` makes one ISO and reads no format.
IMAGE_FORMATS = frozenset(
    {
        "docker",
        "liveimg-squashfs",
        "qcow",
        "qcow2",
        "raw",
        "raw-xz",
        "rhevm-ova",
        "tar-gz",
        "vagrant-hyperv",
        "vagrant-libvirt",
        "vagrant-virtualbox",
        "vagrant-vmware-fusion",
        "vdi",
        "vmdk",
        "vpc",
        "vsphere-ova",
    }
)
# kojid's OzImageTask.parseDistro accepts these forms; the CLI refuses a request without one.
# ``{version}`` is the release's version, filled in per release (one artifact definition covers several releases,
# as Pungi's configuration did per release branch: ``distro: Fedora-{version}``, ``ksurl: ...#origin/f{version}``).
_DISTRO = re.compile(r"^(Fedora-(\d+|\{version\})|RHEL-\d+\.\d+|CentOS-\d+\.\d+|SL-\d+\.\d+)$")
# An SCM URL as kojid's SCM class accepts it: scheme, host, path, optional ?module, #ref (koji/daemon.py SCM).
_SCMURL = re.compile(r"^(git|git\+https?|git\+ssh|git\+file|cvs|svn|svn\+https?|svn\+ssh)://[^#]+#[^#]+$")
_OPTION_TYPES: dict[str, tuple[type, ...]] = {
    "distro": (str,),
    "format": (list,),
    "disk_size": (int, str),
    "ova_option": (list,),
    "factory_parameter": (list,),
    "isoname": (str,),
    "vcpu": (int,),
    "vmem": (int,),
    "volid": (str,),
    "nomacboot": (bool,),
    "squashfs_only": (bool,),
    "compress_arg": (list,),
}


class KickstartCheckError(ValueError):
    """A kickstart pykickstart refuses (its message names the line) or one without a ``%packages`` section."""


@dataclass(frozen=True)
class ImageRequest:
    """One image artifact's request: its kickstart — a file of the repository (``path``, uploaded with each task
    as the koji CLI uploads ``--kickstart``) or a file in an SCM checkout (``ksurl``) — and the Koji method's
    options the configuration sets (``options``: e.g. ``distro``, ``disk_size``, ``format``).

    ``install_tree``: the URL of the installer tree Oz installs from (``buildImageOz``'s ``inst_tree``; ``$arch``
    is filled in by kojid), None for the first of the signed repositories the image installs from.
    """

    kickstart: str  # the file name kojid reads (in the upload or in the ksurl checkout)
    path: Path | None = None  # the kickstart in the repository (None: from ksurl)
    ksurl: str | None = None
    ksversion: str | None = None  # pykickstart's version name (F24); None: the release's
    install_tree: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def version_for(self, release_version: str) -> str:
        """The pykickstart version the kickstart is read with for a release (``ksversion`` if set)."""
        return self.ksversion or ksversion_for(release_version)


def ksversion_for(release_version: str) -> str:
    """pykickstart's version name for a Fedora release: ``24`` → ``F24``, ``rawhide`` → ``DEVEL`` (pure).
    ValueError when pykickstart knows no such version."""
    name = "DEVEL" if release_version == "rawhide" else f"F{release_version}"
    if name not in versionMap:
        raise ValueError(f"pykickstart {_pykickstart_version()} has no kickstart version {name}")
    return name


def parse_kickstart(text: str, ksversion: str, *, name: str) -> KickstartParser:
    """``text`` read as kojid reads it (``ksparser.KickstartParser(makeVersion(ksversion))``, OzImageTask/ImageTask
    ``readKickstart``), with a ``%packages`` section — the image's content. KickstartCheckError names ``name``
    and, from pykickstart's own message, the offending line. Pure."""
    parser = KickstartParser(makeVersion(ksversion), followIncludes=False)
    try:
        parser.readKickstartFromString(text)
    except KickstartError as exc:
        raise KickstartCheckError(f"kickstart {name} does not parse as {ksversion}: {_oneline(exc)}") from None
    if not packages_of(parser) and not parser.handler.packages.groupList:
        raise KickstartCheckError(f"kickstart {name} has no %packages section: an image needs its package list")
    return parser


def packages_of(parser: KickstartParser) -> list[str]:
    """The package names the kickstart's ``%packages`` installs (not groups, not exclusions), in order."""
    return list(parser.handler.packages.packageList)


def check_kickstart_file(path: Path, ksversion: str) -> KickstartParser:
    """:func:`parse_kickstart` of a file; a file that cannot be read is a KickstartCheckError naming it."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise KickstartCheckError(f"cannot read kickstart {path}: {exc}") from None
    return parse_kickstart(text, ksversion, name=str(path))


def option_errors(method: str, options: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """What is wrong with the configured ``options`` of a Koji ``method``: (option, message) pairs. Pure."""
    known = KOJI_OPTIONS[method]
    problems: list[tuple[str | None, str]] = []
    for key, value in options.items():
        if key not in known:
            problems.append((key, f"{key!r} is not an option of Koji's {method} method ({', '.join(sorted(known))})"))
        elif key in OWN_OPTIONS:
            problems.append((key, f"{key!r} is set by releng-o-tron itself, not by the configuration"))
        elif key in REFUSED_OPTIONS:
            problems.append((key, f"{key!r} is not allowed: releng-o-tron never asks for it"))
        elif key in _OPTION_TYPES:
            kinds = _OPTION_TYPES[key]
            if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
                names = " or ".join(t.__name__ for t in kinds)
                problems.append((key, f"{key!r} must be {names}, not {type(value).__name__}"))
    if method == "image":
        distro = options.get("distro")
        if distro is None:
            problems.append(
                (None, "'distro' is required by Koji's image method (the koji CLI refuses a request without it)")
            )
        elif isinstance(distro, str) and not _DISTRO.match(distro):
            problems.append(
                ("distro", f"'distro' {distro!r} is not one kojid knows (Fedora-NN, RHEL-X.Y, CentOS-X.Y, SL-X.Y)")
            )
        formats = options.get("format")
        for fmt in formats if isinstance(formats, list) else []:
            if fmt not in IMAGE_FORMATS:
                problems.append(
                    ("format", f"format {fmt!r} is not one kojid makes ({', '.join(sorted(IMAGE_FORMATS))})")
                )
    volid = options.get("volid")
    if isinstance(volid, str) and len(volid) > 32:
        problems.append(("volid", f"'volid' {volid!r} is longer than 32 characters (an ISO volume id)"))
    return problems


def check_ksurl(ksurl: str) -> str | None:
    """What is wrong with an SCM URL kojid would check the kickstart out of (None: nothing). Pure."""
    if not _SCMURL.match(ksurl):
        return f"{ksurl!r} is not an SCM URL kojid accepts (e.g. git+https://pagure.io/fedora-kickstarts.git?#<ref>)"
    return None


def _oneline(exc: KickstartError) -> str:
    return " ".join(str(exc).split())


def _pykickstart_version() -> str:
    from importlib.metadata import version

    return version("pykickstart")


# The keys of an artifact's ``image_request`` besides the Koji method's options (Pungi's image_build blocks mix
# them the same way: kickstart, ksurl and ksversion beside distro, disk_size, format, ...).
REQUEST_KEYS = ("kickstart", "ksurl", "ksversion", "install_tree")


def request_from_fields(f: Fields, base: Path) -> ImageRequest:
    """An ``image_request`` mapping of the release configuration as an :class:`ImageRequest`. The kickstart file
    (relative to the configuration's folder) must exist; it is parsed later, per release
    (:func:`check_kickstart_file`). Reads nothing but the mapping; the options are checked by the kind."""
    kickstart = f.text("kickstart")
    ksurl = f.text("ksurl", None)
    ksversion = f.text("ksversion", None)
    install_tree = f.text("install_tree", None)
    options = {key: _plain(value) for key, value in f.map.items() if key not in REQUEST_KEYS}
    if ksversion is not None and ksversion not in versionMap:
        raise f.error("ksversion", f"pykickstart {_pykickstart_version()} knows no kickstart version {ksversion!r}")
    path = None
    if ksurl is not None:
        problem = check_ksurl(ksurl)
        if problem:
            raise f.error("ksurl", problem)
    else:
        path = (base / kickstart).resolve()
        if not path.is_file():
            raise f.error("kickstart", f"no kickstart file {path} (give 'ksurl' for one in an SCM repository)")
        kickstart = path.name
    request = ImageRequest(
        kickstart=kickstart, path=path, ksurl=ksurl, ksversion=ksversion, install_tree=install_tree, options=options
    )
    return request


def _plain(value: Any) -> Any:
    """YAML's line-carrying containers as plain lists and dicts (XML-RPC marshals only those)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def fill(value: Any, version: str) -> Any:
    """``{version}`` in a configured string (or list of strings) replaced by the release's version (pure)."""
    if isinstance(value, str):
        return value.replace("{version}", version)
    if isinstance(value, list):
        return [fill(v, version) for v in value]
    return value


# koji image-build's ``--disk-size`` default (koji_cli/commands.py handle_image_build): the CLI always sends it.
CLI_DISK_SIZE = 10


@dataclass(frozen=True)
class KojiCall:
    """One hub call that starts an image task: the method and its positional arguments, ``opts`` last."""

    method: str  # buildImageOz | buildImage
    args: tuple[Any, ...]
    opts: dict[str, Any]


def koji_call(
    method: str,
    request: ImageRequest,
    *,
    name: str,
    version: str,
    arch: str,
    target: str,
    ksfile: str | None,
    repos: list[str],
    ksversion: str,
    defaults: Mapping[str, Any],
) -> KojiCall:
    """The hub call that requests one image as the koji CLI sends it (pure).

    ``method`` is the Koji method of the kind (``image`` or ``livemedia``); ``ksfile`` the uploaded kickstart's
    path relative to Koji's work directory (None when ``request.ksurl`` names an SCM checkout); ``repos`` the
    signed repositories the image installs from — kojid drops the kickstart's own ``repo`` lines and installs
    from these (``prepareKickstart``: ``koji-override-N``), and ``url`` is the install tree. ``defaults`` are the
    kind's options, which the configured ones override. The image build is never scratch and never tagged.
    """
    if not repos:
        raise ValueError(f"{name}: an image needs at least one repository to install from")
    opts: dict[str, Any] = {key: fill(value, version) for key, value in {**defaults, **request.options}.items()}
    if request.ksurl is not None:
        opts["ksurl"] = fill(request.ksurl, version)
    opts["ksversion"] = ksversion
    opts["repo"] = list(repos)
    opts["skip_tag"] = True
    tree = fill(request.install_tree, version) if request.install_tree else repos[0]
    if method == "image":
        # _build_image_oz: the uploaded kickstart is named relative to the top directory ("work/<dir>/<name>"),
        # which kojid's fetchKickstart opens with koji.openRemoteFile; from an SCM, the name in the checkout.
        opts["kickstart"] = request.kickstart if ksfile is None else f"work/{ksfile}"
        opts.setdefault("disk_size", CLI_DISK_SIZE)
        return KojiCall("buildImageOz", (name, version, [arch], target, tree), opts)
    if method == "livemedia":
        # _build_image: ksfile is "<dir>/<name>" (kojid reads work/<ksfile>) or the name in the ksurl checkout;
        # the install tree is the kickstart's url (kojid's prepareKickstart injects install_tree_url).
        opts["install_tree_url"] = tree
        kickstart = request.kickstart if ksfile is None else ksfile
        return KojiCall("buildImage", (name, version, [arch], target, kickstart, "livemedia"), opts)
    raise ValueError(f"{name}: unknown Koji image method {method!r}")
