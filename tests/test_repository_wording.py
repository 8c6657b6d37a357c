"""The repository speaks of the product: its README is a short page for users, its links hold, and no file
speaks of numbered work steps or of the machines and limits it was built with."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
#: what the repository must not say (case-insensitive, POSIX ERE for `git grep -E`); "lent" as a word only, so
#: that "silently" or "ModelEntry" do not count
FORBIDDEN = r"stop ?[0-9]|stop-[0-9]|(^|[^a-z])lent([^a-z]|$)|device (run|tool|machine)|carry|timeout_s|issue"
#: the two set-up commands, as the README shows them and .ci/run runs them
SETUP = "python3 -m venv .venv && .venv/bin/pip install -q torch==2.13.0 -e . && .venv/bin/mineshaft demo"
TESTS = """.venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -m "not slow" -n 2 -q"""


def _git_checkout() -> bool:
    if shutil.which("git") is None:
        return False
    done = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=ROOT, capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.strip() == "true"


@pytest.mark.skipif(not _git_checkout(), reason="not a git checkout")
def test_no_file_speaks_of_how_the_repository_was_built():
    me = Path(__file__).resolve().relative_to(ROOT).as_posix()
    done = subprocess.run(["git", "grep", "--untracked", "-n", "-I", "-i", "-E", FORBIDDEN, "--", ".", f":!{me}"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr
    assert done.stdout == "", "wording to rephrase:\n" + done.stdout


def test_the_pattern_finds_what_it_must_and_spares_ordinary_words(tmp_path):
    pattern = re.compile(FORBIDDEN.replace("(^|[^a-z])lent([^a-z]|$)", r"\blent\b"), re.IGNORECASE)
    for bad in ("measured at stop 21", "the stop-21 model", "a GPU machine was lent", "the device run",
                "carry [\".x\"]", "timeout_s 600", "the issue's bars"):
        assert pattern.search(bad), bad
    for fine in ("it fails silently", "class ModelEntry", "--device cuda", "--stop-after N", "equivalent"):
        assert not pattern.search(fine), fine


def _readme() -> str:
    return README.read_text(encoding="utf-8")


def test_readme_is_short_and_starts_with_the_set_up_commands():
    lines = _readme().splitlines()
    assert len(lines) <= 300, f"README.md has {len(lines)} lines; move detail to docs/"
    head = lines[:40]
    assert SETUP in head, "the install-and-demo command must be a line of README.md's first 40"
    assert TESTS in head, "the test command must be a line of README.md's first 40"


def test_ci_runs_the_readme_commands():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert SETUP in ci and TESTS in ci, ".ci/run and README.md must run the same two set-up commands"


def test_every_docs_link_in_the_readme_exists():
    links = set(re.findall(r"docs/[\w./-]+\.md", _readme()))
    assert links, "README.md links no docs/ page"
    missing = sorted(link for link in links if not (ROOT / link).is_file())
    assert not missing, f"README.md links missing pages: {missing}"


def test_links_between_docs_pages_exist():
    missing = []
    for page in sorted((ROOT / "docs").glob("*.md")):
        for target in re.findall(r"\]\(([\w./-]+\.md)\)", page.read_text(encoding="utf-8")):
            if not (page.parent / target).is_file():
                missing.append(f"{page.name} -> {target}")
    assert not missing, missing
