"""References that lead somewhere: every citation of the protocol in the
code, the tests and the docs is written as docs/protocol.md, then a comma
and the section's name in double quotes (more names may follow, each after
"and"), and each name is a heading of docs/protocol.md. Section numbers
change; names are looked up."""

import re

from binaries import REPO_ROOT

PROTOCOL = REPO_ROOT / "docs" / "protocol.md"
CITATION = re.compile(r'docs/protocol\.md,\s+\\?"([^"\\]+)\\?"((?:\s+and\s+\\?"[^"\\]+\\?")*)')
SECTION_SIGN = "\N{SECTION SIGN}"
ANOTHER = re.compile(r'\\?"([^"\\]+)\\?"')
SOURCES = ("Sources", "Tests", "clients", "docs", "examples", "scripts", "Benchmarks")
SUFFIXES = {".swift", ".py", ".md", ".sh", ".c", ".h", ".toml"}


def headings():
    names = set()
    for text in PROTOCOL.read_text().splitlines():
        match = re.match(r"#{2,4}\s+(?:\d+(?:\.\d+)*\.?\s+)?(.+?)\s*$", text)
        if match:
            names.add(match.group(1))
    return names


def citations():
    for folder in SOURCES:
        for path in sorted((REPO_ROOT / folder).rglob("*")):
            if path.suffix not in SUFFIXES or ".build" in path.parts or not path.is_file():
                continue
            text = path.read_text(errors="replace")
            for match in CITATION.finditer(text):
                line = text.count("\n", 0, match.start()) + 1
                names = [match.group(1)] + ANOTHER.findall(match.group(2))
                for name in names:
                    # A name may wrap onto the next comment line (`///`, `//`, `#`, ` * `).
                    name = re.sub(r"\s*\n\s*(?:///?|#|\*)?\s*", " ", name)
                    yield path.relative_to(REPO_ROOT), line, " ".join(name.split())


def test_the_protocol_has_the_headings_this_test_reads():
    names = headings()
    assert {"Connecting and framing", "Passing file descriptors", "Events", "Error codes"} <= names, sorted(names)


def test_every_citation_names_a_heading_of_docs_protocol_md():
    names = headings()
    found = list(citations())
    assert len(found) >= 30, f"only {len(found)} citations found: is the pattern still the one in use?"
    wrong = [f"{path}:{line}: {name!r}" for path, line, name in found if name not in names]
    assert not wrong, "citations of sections docs/protocol.md does not have:\n" + "\n".join(wrong)


def test_no_numbered_protocol_citations_in_tests_and_clients():
    """`protocol \N{SECTION SIGN}N` numbered a design document that is not in the repo."""
    stale = []
    for folder in ("Tests", "clients"):
        for path in sorted((REPO_ROOT / folder).rglob("*")):
            if path.suffix in SUFFIXES and path.is_file() and ".build" not in path.parts:
                for number, text in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    if SECTION_SIGN in text:
                        stale.append(f"{path.relative_to(REPO_ROOT)}:{number}: {text.strip()}")
    assert not stale, "\n".join(stale)
