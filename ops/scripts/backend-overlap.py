#!/usr/bin/env python3
"""How much of the PostgreSQL backend stands again in the SQLite backend.

Prints the share of the non-blank, non-comment lines of store/src/postgres/*.rs that also occur
in store/src/sqlite/*.rs once both are normalised: whitespace collapsed, and the placeholders of
both dialects ($1, ?1, ?) written alike.

The headline figure ("paired") counts lines that hold a letter or a digit (a lone `}` or `),` says
nothing about logic) and pairs each PostgreSQL line with a distinct SQLite line, so one SQLite
`.await` cannot stand for two hundred PostgreSQL ones. The looser figure ("anywhere") counts every
line and calls it shared when the same line stands anywhere in the SQLite files.

    ops/scripts/backend-overlap.py            # the figure and a per-file table
    ops/scripts/backend-overlap.py --root DIR # another checkout
    ops/scripts/backend-overlap.py --max 30   # exit 1 when the share is above 30%

Python 3 standard library only.
"""

import argparse
import collections
import pathlib
import re
import sys

PLACEHOLDER = re.compile(r"(\$|\?)\d*")
SPACE = re.compile(r"\s+")
WORDY = re.compile(r"[A-Za-z0-9]")


def code_lines(path):
    """Normalised non-blank lines outside comments (// and /* */; doc comments included)."""
    lines = []
    in_block = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if in_block:
            if "*/" in line:
                in_block = False
                line = line.split("*/", 1)[1].strip()
            else:
                continue
        if line.startswith("/*"):
            if "*/" not in line:
                in_block = True
                continue
            line = line.split("*/", 1)[1].strip()
        if not line or line.startswith("//"):
            continue
        line = PLACEHOLDER.sub("?", line)
        line = SPACE.sub(" ", line)
        lines.append(line)
    return lines


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=".", help="the repository root (default: .)")
    parser.add_argument("--max", type=float, help="fail when the share (percent) is above this")
    parser.add_argument("--quiet", action="store_true", help="only the total")
    args = parser.parse_args()

    root = pathlib.Path(args.root)
    pg_files = sorted((root / "store/src/postgres").glob("*.rs"))
    lite_files = sorted((root / "store/src/sqlite").glob("*.rs"))
    if not pg_files or not lite_files:
        sys.exit(f"no backend sources under {root}/store/src/{{postgres,sqlite}}")

    lite_lines = [line for f in lite_files for line in code_lines(f)]
    anywhere = set(lite_lines)
    unpaired = collections.Counter(line for line in lite_lines if WORDY.search(line))

    total = shared = loose_total = loose_shared = 0
    rows = []
    for f in pg_files:
        lines = code_lines(f)
        loose_total += len(lines)
        loose_shared += sum(1 for line in lines if line in anywhere)
        wordy = [line for line in lines if WORDY.search(line)]
        same = 0
        for line in wordy:
            if unpaired[line] > 0:
                unpaired[line] -= 1
                same += 1
        total += len(wordy)
        shared += same
        rows.append((f.name, len(wordy), same))

    share = 100.0 * shared / total if total else 0.0
    loose = 100.0 * loose_shared / loose_total if loose_total else 0.0
    if not args.quiet:
        print(f"{'file':<28} {'lines':>6} {'paired':>7} {'share':>6}")
        for name, n, same in sorted(rows, key=lambda r: -r[2]):
            print(f"{name:<28} {n:>6} {same:>7} {100.0 * same / n if n else 0:>5.1f}%")
    print(f"anywhere: {loose_shared} of {loose_total} postgres lines stand somewhere in sqlite: {loose:.1f}%")
    print(f"paired: {shared} of {total} postgres lines stand again in sqlite: {share:.1f}%")
    if args.max is not None and share > args.max:
        sys.exit(1)


if __name__ == "__main__":
    main()
