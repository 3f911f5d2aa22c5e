# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""An execution environment (EE) with this collection, as ansible-builder makes it.

No container engine: the collection is built into a tarball (``ansible-galaxy collection build``),
``ansible-builder create`` writes the build context of the example EE (docs/ee/) with that
tarball as its Galaxy requirement, and the two steps of the Containerfile that concern the
collection run here, as the image build would run them: the Galaxy stage's
``ansible-galaxy collection install -r requirements.yml`` and the builder stage's introspection
(the very ``introspect.py`` line of the Containerfile). What that introspection collects is what
the image gets: our pip and bindep requirements, which bindep then resolves for this platform.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import tarfile

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)
EXAMPLE = os.path.join(ROOT, "docs", "ee")

pytestmark = pytest.mark.slow


def run(argv, **kwargs):
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, **kwargs)
    assert proc.returncode == 0, "%s exited %d:\n%s%s" % (" ".join(argv), proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def requirement_lines(path):
    with open(path) as handle:
        return [line.strip() for line in handle if line.strip() and not line.startswith("#")]


def dev_pin(name):
    for line in requirement_lines(os.path.join(ROOT, "requirements-dev.txt")):
        req = Requirement(line)
        if req.name.lower() == name:
            return str(req.specifier).lstrip("=")
    raise AssertionError("%s is not pinned in requirements-dev.txt" % name)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    dist = tmp_path_factory.mktemp("dist")
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", "--output-path", str(dist), ROOT])
    (path,) = dist.iterdir()
    return path


@pytest.fixture(scope="module")
def context(tarball, tmp_path_factory):
    """``ansible-builder create`` of the example EE, the collection coming from ``tarball``."""
    work = tmp_path_factory.mktemp("ee")
    with open(os.path.join(EXAMPLE, "execution-environment.yml")) as handle:
        definition = yaml.safe_load(handle)
    # The example installs splitdriver.xen from Galaxy; here its requirements file names the
    # local tarball instead, which the build context carries (paths are relative to /build,
    # where the Galaxy stage runs).
    assert definition["dependencies"]["galaxy"] == "requirements.yml"
    definition["additional_build_files"] = [{"src": str(tarball), "dest": "collections"}]
    (work / "requirements.yml").write_text(yaml.safe_dump(
        {"collections": [{"name": "collections/" + tarball.name, "type": "file"}]}))
    (work / "execution-environment.yml").write_text(yaml.safe_dump(definition))
    ctx = work / "context"
    run([os.path.join(BIN, "ansible-builder"), "create", "-f", str(work / "execution-environment.yml"),
         "-c", str(ctx), "--output-filename", "Containerfile"])
    return ctx


def test_collection_artifact_carries_its_ee_metadata(tarball):
    """ansible-builder reads these from the installed collection: they must be in the artifact."""
    with tarfile.open(tarball) as tar:
        names = set(tar.getnames())
        meta = yaml.safe_load(tar.extractfile("meta/execution-environment.yml"))
    assert meta["dependencies"] == {"python": "meta/ee-requirements.txt", "system": "meta/ee-bindep.txt"}
    assert {"meta/ee-requirements.txt", "meta/ee-bindep.txt"} <= names


def test_example_ee_pins_what_we_test_with():
    with open(os.path.join(EXAMPLE, "execution-environment.yml")) as handle:
        deps = yaml.safe_load(handle)["dependencies"]
    assert deps["ansible_core"]["package_pip"] == "ansible-core==" + dev_pin("ansible-core")
    assert deps["ansible_runner"]["package_pip"] == "ansible-runner==" + dev_pin("ansible-runner")
    with open(os.path.join(EXAMPLE, "requirements.yml")) as handle:
        assert [c["name"] for c in yaml.safe_load(handle)["collections"]] == ["splitdriver.xen"]
    # the pyxs the modules are tested with satisfies what the EE asks for
    (pyxs,) = [Requirement(line) for line in requirement_lines(os.path.join(ROOT, "meta", "ee-requirements.txt"))]
    assert pyxs.name == "pyxs" and pyxs.specifier.contains(dev_pin("pyxs"))


def test_containerfile_installs_the_collection_then_introspects_it(context, tarball):
    containerfile = (context / "Containerfile").read_text()
    lines = containerfile.splitlines()
    assert 'ARG EE_BASE_IMAGE="registry.access.redhat.com/ubi9/ubi:latest"' in lines
    assert 'ARG ANSIBLE_INSTALL_REFS="ansible-core==%s ansible-runner==%s"' % (
        dev_pin("ansible-core"), dev_pin("ansible-runner")) in lines
    galaxy = [line for line in lines if "ansible-galaxy collection install" in line]
    assert galaxy == ['RUN ANSIBLE_GALAXY_DISABLE_GPG_VERIFY=1 ansible-galaxy collection install '
                      '$ANSIBLE_GALAXY_CLI_COLLECTION_OPTS -r requirements.yml '
                      '--collections-path "/usr/share/ansible/collections"']
    introspect = [line for line in lines if "introspect.py introspect" in line]
    assert len(introspect) == 1
    # introspection runs after the Galaxy stage's collections were copied in, then assemble and
    # the final stage's bindep install use what it wrote
    order = [lines.index(galaxy[0]), lines.index("COPY --from=galaxy /usr/share/ansible /usr/share/ansible"),
             lines.index(introspect[0]), lines.index("RUN /output/scripts/assemble"),
             lines.index("RUN /output/scripts/install-from-bindep && rm -rf /output/wheels")]
    assert order == sorted(order)
    with open(context / "_build" / "requirements.yml") as handle:
        assert yaml.safe_load(handle) == {"collections": [{"name": "collections/" + tarball.name, "type": "file"}]}
    assert (context / "_build" / "collections" / tarball.name).read_bytes() == tarball.read_bytes()


def test_introspection_collects_our_requirements(context, tmp_path):
    build = context / "_build"  # the Galaxy and builder stages' WORKDIR /build
    collections = tmp_path / "usr" / "share" / "ansible" / "collections"
    # (as in the image, where no other collections path holds splitdriver.xen)
    env = dict(os.environ, ANSIBLE_GALAXY_DISABLE_GPG_VERIFY="1", ANSIBLE_COLLECTIONS_PATH=str(collections))
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", "-r", "requirements.yml",
         "--collections-path", str(collections)], cwd=build, env=env)
    installed = collections / "ansible_collections" / "splitdriver" / "xen"
    with open(installed / "MANIFEST.json") as handle:
        assert json.load(handle)["collection_info"]["name"] == "xen"

    # The Containerfile's own introspection line, with this machine's paths for the image's.
    containerfile = (context / "Containerfile").read_text().splitlines()
    (line,) = [line for line in containerfile if "introspect.py introspect" in line]
    argv = shlex.split(line[len("RUN "):])
    assert argv[:3] == ["$PYCMD", "/output/scripts/introspect.py", "introspect"]
    src = tmp_path / "src"
    argv = [sys.executable, str(build / "scripts" / "introspect.py")] + [
        arg.replace("/tmp/src/", str(src) + "/") for arg in argv[2:]] + [str(collections)]
    out = run(argv, cwd=build)
    assert "splitdriver.xen" in out

    ours = requirement_lines(os.path.join(ROOT, "meta", "ee-requirements.txt"))
    assert requirement_lines(src / "requirements.txt") == [r + "  # from collection splitdriver.xen" for r in ours]
    assert any(line.startswith("pyxs>=0.4.1,<0.5  #") for line in requirement_lines(src / "requirements.txt"))
    bindep = requirement_lines(os.path.join(ROOT, "meta", "ee-bindep.txt"))
    assert requirement_lines(src / "bindep.txt") == [b + "  # from collection splitdriver.xen" for b in bindep]

    # assemble's bindep call on what was collected: what this (dpkg) platform would install
    listed = run([os.path.join(BIN, "bindep"), "-l", "newline", "-f", str(src / "bindep.txt")])
    assert sorted(listed.split()) == ["kmod", "openssh-client", "xenstore-utils"]
