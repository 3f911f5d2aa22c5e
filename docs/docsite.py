# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Helpers of ``make docs`` and ``make lint`` for the collection's docsite.

``guides``: render the Markdown guides in docs/ as the collection's extra docs
(docs/docsite/rst/). Galaxy and the repository show the Markdown guides; antsibull-docs takes
extra docs only as reStructuredText. The Markdown stays the one source: this writes the RST
rendition with pandoc (the pinned pypandoc_binary of requirements-publish.txt), and
``guides --check`` fails when a committed rendition is out of date (``make lint`` runs it).
Relative links point at files of the repository, which a docsite does not have, so they become
links to the repository.

``warnings LOG``: judge sphinx-build's warning log. Every warning fails the build, except, when
the intersphinx inventories of docs.ansible.com and docs.python.org cannot be fetched (a machine
without internet access), that failure and the references into those docs it leaves unresolved.
References to this collection's own docs must always resolve.

Usage: docsite.py guides [--check] | docsite.py warnings LOG
"""

from __future__ import annotations

import argparse
import difflib
import os
import posixpath
import re
import sys

import pypandoc
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
DEST = os.path.join(DOCS, "docsite", "rst")
# Markdown guide -> RST name, as listed in docs/docsite/extra-docs.yml.
GUIDES = {"inventory.md": "guide_inventory", "awx.md": "guide_awx"}
LINK = re.compile(r"\]\(([^)\s]+)\)")
OFFLINE = "failed to reach any of the inventories"
# Continuation lines of the OFFLINE warning, one per inventory location tried.
OFFLINE_DETAIL = re.compile(r"^intersphinx inventory '[^']+' not (fetchable|readable)")
UNDEFINED_LABEL = re.compile(r"WARNING: undefined label: '([^']+)'")
# Environment variables that ansible-core's own configuration docs define (the inventory cache
# options document ANSIBLE_CACHE_PLUGIN* this way): resolved through intersphinx too.
CORE_ENVVAR = re.compile(r"WARNING: 'envvar' reference target not found: ANSIBLE_[A-Z0-9_]+ \[ref\.envvar\]$")
OWN_LABEL = "ansible_collections.splitdriver.xen."


def repository_blob_url():
    with open(os.path.join(ROOT, "galaxy.yml"), encoding="utf-8") as f:
        meta = yaml.safe_load(f)
    return meta["repository"].rstrip("/") + "/blob/main/"


def absolute_links(markdown, source_dir, blob_url):
    def repl(match):
        target = match.group(1)
        if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
            return match.group(0)
        path = posixpath.normpath(posixpath.join(source_dir, target))
        return "](%s%s)" % (blob_url, path)

    return LINK.sub(repl, markdown)


def render(md_name, rst_name, blob_url):
    with open(os.path.join(DOCS, md_name), encoding="utf-8") as f:
        markdown = absolute_links(f.read(), "docs", blob_url)
    body = pypandoc.convert_text(markdown, "rst", format="gfm", extra_args=["--wrap=none"])
    return (
        ".. Generated from docs/%s by docs/docsite.py (make docs): edit the Markdown, not this.\n\n"
        ".. _ansible_collections.splitdriver.xen.docsite.%s:\n\n%s"
    ) % (md_name, rst_name, body.rstrip() + "\n")


def guides(check):
    blob_url = repository_blob_url()
    stale = 0
    for md_name, rst_name in sorted(GUIDES.items()):
        path = os.path.join(DEST, rst_name + ".rst")
        wanted = render(md_name, rst_name, blob_url)
        try:
            with open(path, encoding="utf-8") as f:
                have = f.read()
        except FileNotFoundError:
            have = ""
        if have == wanted:
            continue
        rel = os.path.relpath(path, ROOT)
        if check:
            stale += 1
            sys.stderr.write("%s is out of date with docs/%s: run `make docs`\n" % (rel, md_name))
            sys.stderr.writelines(
                difflib.unified_diff(have.splitlines(True), wanted.splitlines(True), rel, "rendered")
            )
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(wanted)
            print("wrote %s" % rel)
    return 1 if stale else 0


def warnings(log):
    with open(log, encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f if line.strip()]
    offline = any(OFFLINE in line for line in lines)
    bad = []
    for line in lines:
        if offline and (OFFLINE in line or OFFLINE_DETAIL.match(line)):
            continue
        label = UNDEFINED_LABEL.search(line)
        if offline and label and not label.group(1).startswith(OWN_LABEL):
            continue
        if offline and CORE_ENVVAR.search(line):
            continue
        bad.append(line)
    if offline:
        print("docs: intersphinx inventories unreachable (offline); links into the Ansible and "
              "Python docs are left unresolved")
    for line in bad:
        sys.stderr.write(line + "\n")
    if bad:
        sys.stderr.write("docs: %d sphinx warning(s), see %s\n" % (len(bad), log))
    return 1 if bad else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_guides = sub.add_parser("guides", help="render docs/*.md guides to docs/docsite/rst/")
    p_guides.add_argument("--check", action="store_true", help="fail if a rendition is stale")
    p_warnings = sub.add_parser("warnings", help="judge a sphinx-build warning log")
    p_warnings.add_argument("log")
    args = parser.parse_args()
    if args.command == "guides":
        return guides(args.check)
    return warnings(args.log)


if __name__ == "__main__":
    sys.exit(main())
