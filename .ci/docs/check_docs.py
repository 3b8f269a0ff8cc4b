# SPDX-License-Identifier: Apache-2.0
"""Checks the documentation's shape and links, offline.

- docs/ follows Diataxis: every page lives in tutorials/, how-to/, reference/ or explanation/.
- Every relative link in the repository's Markdown (README, docs/, examples/, CHANGELOG, ...)
  names a file that exists, and a #fragment names a heading of the page it points to.

Usage: check_docs.py REPOSITORY_ROOT. Prints one line per problem; exits 1 if there is any.
"""

import re
import subprocess
import sys
from pathlib import Path

SECTIONS = {"tutorials", "how-to", "reference", "explanation"}
LINK = re.compile(r"(?<!\!)\[[^\]\n]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)|!\[[^\]\n]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")


def tracked_markdown(root: Path) -> list[Path]:
    out = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--cached", "--others", "--exclude-standard", "*.md"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return [root / line for line in out.splitlines() if line]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lowercase, markup and punctuation dropped, spaces to -."""
    text = re.sub(r"`([^`]*)`", r"\1", heading)
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def prose_lines(path: Path) -> list[str]:
    """The page's lines outside fenced code blocks."""
    lines, fenced = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append(line)
    return lines


def anchors(path: Path, cache: dict) -> set[str]:
    if path not in cache:
        found, seen = set(), {}
        for line in prose_lines(path):
            m = HEADING.match(line)
            if m:
                base = slug(m.group(2))
                n = seen.get(base, 0)
                seen[base] = n + 1
                found.add(base if n == 0 else f"{base}-{n}")
            found.update(ANCHOR.findall(line))
        cache[path] = found
    return cache[path]


def check_structure(root: Path) -> list[str]:
    problems = []
    for page in sorted((root / "docs").rglob("*.md")):
        section = page.relative_to(root / "docs").parts[0]
        if section not in SECTIONS:
            problems.append(
                f"{page.relative_to(root)}: outside docs/{{{','.join(sorted(SECTIONS))}}}/ (Diataxis)"
            )
    return problems


def check_links(root: Path, pages: list[Path]) -> list[str]:
    problems, cache = [], {}
    for page in pages:
        for number, line in enumerate(prose_lines(page), 1):
            line = re.sub(r"`[^`]*`", "", line)
            for m in LINK.finditer(line):
                target = m.group(1) or m.group(2)
                if re.match(r"^[a-z][a-z0-9+.-]*:", target):
                    continue  # http:, https:, mailto: ... are not checked offline
                path_part, _, fragment = target.partition("#")
                dest = (page.parent / path_part).resolve() if path_part else page
                where = f"{page.relative_to(root)}: link {target}"
                if not dest.exists():
                    problems.append(f"{where}: no such file")
                elif fragment and dest.suffix == ".md" and fragment not in anchors(dest, cache):
                    problems.append(f"{where}: no heading #{fragment} in {dest.relative_to(root)}")
    return problems


def main() -> int:
    root = Path(sys.argv[1]).resolve()
    pages = tracked_markdown(root)
    problems = check_structure(root) + check_links(root, pages)
    for p in problems:
        print(p)
    print(f"docs: {len(pages)} Markdown files, {len(problems)} problem(s)", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
