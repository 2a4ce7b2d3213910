"""`python -m tether --version`: the package's and the loaded library's versions."""

from __future__ import annotations

import argparse
import sys

from . import __version__, version
from ._native import lib_path


def main(argv: "list[str] | None" = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tether", description="tether Python binding")
    parser.add_argument("--version", action="store_true", help="print the package and library versions")
    args = parser.parse_args(argv)
    if not args.version:
        parser.print_help()
        return 0
    print("tether %s (library %s, %s)" % (__version__, version(), lib_path()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
