"""`python -m flrepo.seed.sample OUT.dump [--gzip]`: write the sample archive."""

import argparse
import sys
from pathlib import Path

from flrepo.seed.sample.build import build_sample


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m flrepo.seed.sample", description="Write a small sample mongodump archive."
    )
    parser.add_argument("out", type=Path, help="archive file to write")
    parser.add_argument("--gzip", action="store_true", help="gzip-compress it")
    args = parser.parse_args(argv)
    try:
        counts = build_sample(args.out, compress=args.gzip)
    except OSError as exc:
        print(f"seed.sample: cannot write {args.out}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    total = sum(counts.values())
    print(f"wrote {args.out}: {len(counts)} namespaces, {total} documents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
