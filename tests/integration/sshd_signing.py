"""A stand-in ``sigul`` client for the signing tests, installed on the PATH of the test sshd's sessions.

The sshd itself is the shared fixture in ``sshd.py`` (``with sshd(root) as server``; ``server.bin`` is first on
every session's PATH). ``SIGUL_STANDIN`` is a self-contained Python program with the real sigul client's
command line (``sigul [--batch] [-c CONF] [-u USER] [-f PASSFILE] COMMAND ...``) that performs each operation
with gpg, rpmsign and ostree on the host it runs on, so the signatures it returns are real and verifiable. It
signs through :mod:`relengotron.tools.gpg` like everything else (a private copy of the GNUPGHOME per
operation), so it never disturbs a test signing with the same GNUPGHOME at the same time.
Its configuration file (``-c``) names the GNUPGHOME, the passphrase it expects and the sigul key names::

    [standin]
    gnupghome = /path/to/gnupg
    passphrase = secret
    log = /path/to/calls.log
    [keys]
    fedora-24 = <fingerprint>
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIGUL_STANDIN = r'''
"""Stand-in for the sigul client: the real command line, operations done locally with gpg/rpmsign/ostree."""
import argparse, configparser, hashlib, os, shutil, subprocess, sys, tempfile

from relengotron.tools import gpg, rpmsign


def fail(message, code=1):
    sys.stderr.write(f"Error: {message}\n")
    sys.exit(code)


def write_output(data, output):
    if output is None:
        sys.stdout.buffer.write(data)
    else:
        with open(output, "wb") as handle:
            handle.write(data)
        os.chmod(output, 0o600)


def main():
    parser = argparse.ArgumentParser(prog="sigul")
    parser.add_argument("--batch", action="store_true")
    parser.add_argument("-c", "--config-file")
    parser.add_argument("-u", "--user-name")
    parser.add_argument("-f", "--passphrase-file")
    parser.add_argument("-v", "--verbose", action="count")
    parser.add_argument("command")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    opts = parser.parse_args()
    conf = configparser.ConfigParser()
    if not opts.config_file or not conf.read(os.path.expanduser(opts.config_file)):
        fail(f"configuration file {opts.config_file!r} cannot be read")
    home = conf["standin"]["gnupghome"]
    keys = dict(conf["keys"])
    log = conf["standin"].get("log")
    if log:
        with open(log, "a") as handle:
            handle.write(" ".join([opts.command, *opts.args]) + "\n")
    if opts.passphrase_file:
        passphrase = open(opts.passphrase_file).read().strip()
    elif opts.batch:
        passphrase = sys.stdin.buffer.read().split(b"\0")[0].decode()
    else:
        fail("interactive passphrase prompts are not supported by the stand-in")
    sub = argparse.ArgumentParser(prog=f"sigul {opts.command}")
    sub.add_argument("-o", "--output")
    sub.add_argument("-a", "--armor", action="store_true")
    sub.add_argument("--v3-signature", action="store_true")
    sub.add_argument("--store-in-koji", action="store_true")
    sub.add_argument("--koji-only", action="store_true")
    sub.add_argument("-k", "--koji-instance")
    sub.add_argument("key")
    sub.add_argument("rest", nargs="*")
    args = sub.parse_args(opts.args)
    if args.key not in keys:
        fail("Key does not exist")
    if passphrase != conf["standin"]["passphrase"]:
        fail("Authentication failed")
    fpr = keys[args.key]
    command = opts.command
    try:
        if command == "get-public-key":
            sys.stdout.buffer.write(gpg.public_key(home, fpr))
        elif command == "sign-data":
            (path,) = args.rest
            write_output(gpg.detach_sign(home, fpr, path, armor=args.armor), args.output)
        elif command == "sign-text":
            (path,) = args.rest
            write_output(gpg.clearsign(home, fpr, path), args.output)
        elif command == "sign-ostree":
            commit, path = args.rest
            data = open(path, "rb").read()
            if hashlib.sha256(data).hexdigest() != commit:
                fail("Invalid request: the commit object does not match its checksum")
            with tempfile.TemporaryDirectory() as tmp:
                repo = os.path.join(tmp, "repo")
                subprocess.run(["ostree", "init", "--mode=archive", f"--repo={repo}"], check=True)
                objdir = os.path.join(repo, "objects", commit[:2])
                os.makedirs(objdir)
                shutil.copyfile(path, os.path.join(objdir, commit[2:] + ".commit"))
                with gpg.private_home(home) as private:
                    proc = subprocess.run(
                        ["ostree", "gpg-sign", f"--repo={repo}", f"--gpg-homedir={private}", commit, fpr],
                        capture_output=True,
                    )
                if proc.returncode != 0:
                    fail(f"ostree gpg-sign failed: {proc.stderr.decode(errors='replace')}")
                write_output(open(os.path.join(objdir, commit[2:] + ".commitmeta"), "rb").read(), args.output)
        elif command in ("sign-rpm", "sign-rpms"):
            if command == "sign-rpms" and not args.output:
                fail("--output is mandatory without --koji-only")
            dests = []
            for rpm in args.rest:
                if command == "sign-rpms":
                    os.makedirs(args.output, exist_ok=True)
                    dest = os.path.join(args.output, os.path.basename(rpm))
                else:
                    dest = args.output or rpm
                if dest != rpm:
                    shutil.copyfile(rpm, dest)
                dests.append(dest)
            try:
                rpmsign.sign_rpms(dests, home, fpr)
            except rpmsign.RpmSignError as exc:
                fail(f"rpmsign failed: {exc}")
        else:
            fail(f"unknown command {command}")
    except gpg.GpgError as exc:
        fail(f"gpg failed: {exc}")


main()
'''


def install_sigul_standin(
    bin_dir: Path, conf_dir: Path, gnupghome: Path, keys: dict[str, str], passphrase: str
) -> tuple[Path, Path, Path]:
    """Install the stand-in as ``bin_dir/sigul`` and write its configuration; returns (program, config, call log)."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    conf_dir.mkdir(parents=True, exist_ok=True)
    program = bin_dir / "sigul"
    program.write_text(f"#!{sys.executable}\n{SIGUL_STANDIN}")
    program.chmod(0o755)
    log = conf_dir / "sigul-calls.log"
    config = conf_dir / "client.conf"
    lines = ["[standin]", f"gnupghome = {gnupghome}", f"passphrase = {passphrase}", f"log = {log}", "[keys]"]
    lines += [f"{name} = {fingerprint}" for name, fingerprint in keys.items()]
    config.write_text("\n".join(lines) + "\n")
    os.chmod(config, 0o600)
    return program, config, log
