# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection artifact as a user gets it: `ansible-galaxy collection build` of this checkout.

It holds what a user needs and nothing else (checked against an allow-list of path shapes, and
against files planted where development leaves them), every relative link of its Markdown and
RST files resolves inside it, it installs with `ansible-galaxy collection install`, `ansible-doc`
documents every module, filter and role from the installed copy, the shipped unit tests pass
there, and galaxy-importer accepts it without an error or a warning.

galaxy-importer runs from the publishing venv (`make publish-deps`, requirements-publish.txt),
configured to run locally: ansible-doc and ansible-lint from that venv, no ansible-test and no
container engine.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
PUBLISH_BIN = os.path.join(ROOT, ".cache", "publish-venv", "bin")
with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as _f:
    GALAXY = yaml.safe_load(_f)
FQCN = "%s.%s" % (GALAXY["namespace"], GALAXY["name"])
TARBALL = "%s-%s-%s.tar.gz" % (GALAXY["namespace"], GALAXY["name"], GALAXY["version"])

NAME = r"[a-z0-9_]+"
# Every file of the artifact matches one of these shapes.
ALLOWED = [re.compile("^%s$" % p.replace("{name}", NAME)) for p in (
    r"MANIFEST\.json",
    r"FILES\.json",
    r"README\.md",
    r"CHANGELOG\.rst",
    r"COPYING",
    r"LICENSES/[A-Za-z0-9.+-]+\.txt",
    r"meta/runtime\.yml",
    r"meta/execution-environment\.yml",
    r"meta/ee-(requirements|bindep)\.txt",
    r"changelogs/(changelog|config)\.yaml",
    r"docs/{name}\.md",
    r"docs/docsite/(extra-docs|links)\.yml",
    r"docs/docsite/rst/{name}\.rst",
    r"docs/ee/(execution-environment|requirements)\.yml",
    r"plugins/(modules|filter|inventory)/{name}\.py",
    r"plugins/(doc_fragments|plugin_utils)/_{name}\.py",
    r"plugins/module_utils/__init__\.py",
    r"plugins/module_utils/_{name}/{name}\.py",
    r"roles/{name}/README\.md",
    r"roles/{name}/(defaults|vars|handlers)/main\.yml",
    r"roles/{name}/meta/(main|argument_specs)\.yml",
    r"roles/{name}/tasks/{name}\.yml",
    r"roles/{name}/templates/([A-Za-z0-9_]+/)*[A-Za-z0-9_.]+\.j2",
    r"playbooks/{name}\.yml",
    r"playbooks/(tasks|vars|inventory)/{name}\.yml",
    r"playbooks/templates/{name}\.j2",
    r"tests/conftest\.py",
    r"tests/unit/([a-z0-9_]+/)*(conftest|utils|test_{name})\.py",
    r"tests/integration/test_{name}\.py",
    r"tests/xenstored/{name}\.py",
)]
# What development leaves in a checkout; none of it may ship (build_ignore in galaxy.yml).
PLANTED = (
    "roles/backend/templates/driver/backend.ko",
    "roles/backend/templates/driver/backend.o",
    "roles/backend/templates/driver/.backend.ko.cmd",
    "roles/backend/templates/driver/Module.symvers",
    "roles/frontend/.keep",
    "changelogs/.plugin-cache.yaml",
    "changelogs/fragments/1234-unreleased.yml",
    "lab/state/disk.qcow2",
    "tests/output/junit/result.xml",
    "tests/unit/__pycache__/test_x.cpython-311.pyc",
    "build/docs/build/html/index.html",
    "benchmarks/results.json",
    "requirements-extra.txt",
    "docs/DEVELOPING.md",
    "splitdriver-xen-0.0.1.tar.gz",
    ".cache/publish-venv/bin/python",
    ".ansible/collections/x",
)
MD_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
RST_LINK = re.compile(r"`[^`<]*<([^>`]+)>`__?")
RST_TARGET = re.compile(r"^\.\. (?:_[^:]+:|(?:include|literalinclude|image|figure)::)[ \t]+(\S+)[ \t]*$", re.M)
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def run(cmd, **kwargs):
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, **kwargs)
    assert proc.returncode == 0, "%s: rc=%s\n%s\n%s" % (cmd, proc.returncode, proc.stdout, proc.stderr)
    return proc


def build(src, dest):
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", src, "--output-path", dest])
    path = os.path.join(dest, TARBALL)
    assert os.path.isfile(path)
    return path


def members(tarball):
    with tarfile.open(tarball) as tar:
        return sorted(m.name for m in tar.getmembers() if not m.isdir())


def git_files():
    out = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    return [p for p in out.stdout.split("\0") if p and os.path.lexists(os.path.join(ROOT, p))]


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    return build(ROOT, str(tmp_path_factory.mktemp("artifact")))


@pytest.fixture(scope="module")
def unpacked(artifact, tmp_path_factory):
    dest = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(artifact) as tar:
        tar.extractall(dest)  # our own build; Python 3.11.2 has no extraction filters
    return str(dest)


@pytest.fixture(scope="module")
def installed(artifact, tmp_path_factory):
    """The artifact installed by ansible-galaxy; env for Ansible tools that sees only it."""
    base = tmp_path_factory.mktemp("installed")
    # Only the installed copy: not this checkout, which the tests' conftest puts on the path.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(base), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(base / ".tmp"))
    proc = run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", artifact,
                "-p", str(base)], env=env)
    assert "%s:%s was installed successfully" % (FQCN, GALAXY["version"]) in proc.stdout
    path = os.path.join(str(base), "ansible_collections", *FQCN.split("."))
    return path, env


def test_artifact_holds_only_allowed_shapes(artifact):
    names = members(artifact)
    unexpected = [n for n in names if not any(p.match(n) for p in ALLOWED)]
    assert unexpected == []
    for forbidden in ("tests/integration/test_artifact.py", "docs/DEVELOPING.md"):
        assert forbidden not in names
    # Everything a user needs is there.
    for required in ("README.md", "CHANGELOG.rst", "COPYING", "LICENSES/GPL-3.0-or-later.txt",
                     "LICENSES/GPL-2.0-only.txt", "changelogs/changelog.yaml", "meta/runtime.yml",
                     "docs/docsite/extra-docs.yml", "docs/docsite/links.yml",
                     "playbooks/site.yml", "playbooks/inventory/example.yml"):
        assert required in names
    # Every shipped content file of the checkout is in it (nothing lost to a broad pattern).
    content = [p for p in git_files() if p.startswith(("plugins/", "roles/", "playbooks/", "meta/"))
               and not p.endswith(".keep")]
    assert content and sorted(set(content) - set(names)) == []


def test_build_ignore_drops_what_development_leaves_behind(tmp_path):
    """A copy of the checkout with development leftovers planted builds to the same file list."""
    src = tmp_path / "xen"
    for rel in git_files():
        dest = src / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        origin = os.path.join(ROOT, rel)
        if os.path.islink(origin):
            os.symlink(os.readlink(origin), dest)
        else:
            shutil.copy2(origin, dest)
    clean = members(build(str(src), str(tmp_path / "clean")))
    for rel in PLANTED:
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text("planted\n")
    dirty = members(build(str(src), str(tmp_path / "dirty")))
    assert [n for n in dirty if n not in clean] == []
    assert dirty == clean


def test_license_texts_are_complete(unpacked):
    gpl3 = open(os.path.join(unpacked, "LICENSES", "GPL-3.0-or-later.txt"), encoding="utf-8").read()
    assert gpl3 == open(os.path.join(unpacked, "COPYING"), encoding="utf-8").read()
    assert "Version 3, 29 June 2007" in gpl3 and "END OF TERMS AND CONDITIONS" in gpl3
    gpl2 = open(os.path.join(unpacked, "LICENSES", "GPL-2.0-only.txt"), encoding="utf-8").read()
    assert "Version 2, June 1991" in gpl2 and "END OF TERMS AND CONDITIONS" in gpl2
    manifest = json.load(open(os.path.join(unpacked, "MANIFEST.json"), encoding="utf-8"))
    assert manifest["collection_info"]["license"] == ["GPL-3.0-or-later", "GPL-2.0-only"]


def relative_links(path, text):
    if path.endswith(".md"):
        targets = MD_LINK.findall(FENCE.sub("", text))
    else:
        targets = RST_LINK.findall(text) + RST_TARGET.findall(text)
    for target in targets:
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            continue
        yield target.split("#", 1)[0]


def test_relative_links_of_shipped_docs_resolve_inside_the_artifact(artifact, unpacked):
    names = set(members(artifact))
    checked, broken = 0, []
    for name in sorted(names):
        if not name.endswith((".md", ".rst")):
            continue
        with open(os.path.join(unpacked, name), encoding="utf-8") as f:
            text = f.read()
        for target in relative_links(name, text):
            checked += 1
            resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
            if resolved not in names:
                broken.append("%s -> %s" % (name, target))
    assert broken == []
    assert checked >= 8  # README.md alone links the roles' READMEs, the guide, the licences


def test_ansible_doc_documents_everything_from_the_installed_copy(installed, unpacked):
    path, env = installed
    roles = sorted(d for d in os.listdir(os.path.join(unpacked, "roles")))
    expected = {
        "module": sorted(f[:-3] for f in os.listdir(os.path.join(unpacked, "plugins", "modules"))),
        "filter": sorted(f[:-3] for f in os.listdir(os.path.join(unpacked, "plugins", "filter"))),
        "inventory": sorted(f[:-3] for f in os.listdir(os.path.join(unpacked, "plugins", "inventory"))),
        "role": roles,
    }
    doc = os.path.join(BIN, "ansible-doc")
    for kind, names in expected.items():
        listed = json.loads(run([doc, "-t", kind, "-l", FQCN, "--json"], env=env).stdout)
        assert sorted(n.split(".")[-1] for n in listed) == names, kind
        fqcns = ["%s.%s" % (FQCN, n) for n in names]
        docs = json.loads(run([doc, "-t", kind, "--json"] + fqcns, env=env).stdout)
        assert sorted(docs) == fqcns
        for fqcn, data in docs.items():
            if kind == "role":
                assert data["path"].startswith(path)
                main = data["entry_points"]["main"]
                assert main["short_description"] and main["options"] and main["examples"]
            else:
                assert data["doc"]["filename"].startswith(path)
                assert data["doc"]["short_description"] and data["examples"]
        # The text rendering (markup included) works and warns of nothing.
        proc = run([doc, "-t", kind] + fqcns, env=env)
        assert "[WARNING]" not in proc.stderr and "[ERROR]" not in proc.stderr, proc.stderr
        for fqcn in fqcns:
            assert fqcn in proc.stdout


def test_shipped_unit_tests_pass_in_the_installed_copy(installed):
    path, env = installed
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "tests/unit", "-q", "-p", "no:cacheprovider"],
        cwd=path, env=env, capture_output=True, text=True, check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"^\d+ passed", proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def publish_venv():
    run(["make", "-s", "-C", ROOT, "publish-deps"])
    assert os.access(os.path.join(PUBLISH_BIN, "python"), os.X_OK)
    return PUBLISH_BIN


def test_galaxy_importer_accepts_the_artifact(artifact, publish_venv, tmp_path):
    config = tmp_path / "galaxy-importer.cfg"
    config.write_text(
        "[galaxy-importer]\n"
        "LOG_LEVEL_MAIN = INFO\n"
        "RUN_ANSIBLE_DOC = True\n"
        "RUN_ANSIBLE_LINT = True\n"
        "OFFLINE_ANSIBLE_LINT = True\n"
        "RUN_ANSIBLE_TEST = False\n"
        "RUN_FLAKE8 = False\n"
        "LOCAL_IMAGE_DOCKER = False\n"
        "CHECK_CHANGELOG = True\n"
        "TMP_ROOT_DIR = %s\n"
        "ANSIBLE_LOCAL_TMP = %s\n" % (tmp_path, tmp_path / "ansible-tmp")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANSIBLE_", "GALAXY_IMPORTER_"))}
    env.update(GALAXY_IMPORTER_CONFIG=str(config), HOME=os.environ.get("HOME", str(tmp_path)),
               PATH=publish_venv + os.pathsep + env.get("PATH", ""))
    proc = subprocess.run(
        [os.path.join(publish_venv, "python"), "-m", "galaxy_importer.main", artifact],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )
    lines = proc.stdout.splitlines()
    problems = [line for line in lines if line.startswith(("ERROR", "WARNING", "CRITICAL"))]
    assert proc.returncode == 0 and problems == [], proc.stdout + proc.stderr
    assert "Importer processing completed successfully" in lines
    result = json.loads((tmp_path / "importer_result.json").read_text())
    contents = {(c["content_type"], c["name"]) for c in result["contents"]}
    # every plugin and role of the checkout, as Galaxy lists them
    for kind, folder in (("module", "plugins/modules"), ("filter", "plugins/filter"),
                         ("inventory", "plugins/inventory"), ("role", "roles")):
        names = sorted(n[:-3] if n.endswith(".py") else n for n in os.listdir(os.path.join(ROOT, folder))
                       if not n.startswith(("_", ".")))
        assert names and all((kind, name) in contents for name in names), (kind, names, contents)
    docs = [d["name"] for d in result["docs_blob"]["documentation_files"]]
    # the Markdown guides of docs/ (DEVELOPING.md does not ship)
    assert docs == sorted(n for n in os.listdir(os.path.join(ROOT, "docs")) if n.endswith(".md") and n != "DEVELOPING.md")
    assert result["metadata"]["license"] == ["GPL-3.0-or-later", "GPL-2.0-only"]
