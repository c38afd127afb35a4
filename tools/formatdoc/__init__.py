"""One documentation page per Chinese code format, generated from its table.

A province's format *is* its :class:`~adapters.base.JwsClaimFormat` table, so its page is
rendered from that table (claim names, value tables, time codec, prefix, ``typ``), from
``config/regions.toml`` (who issues it, with which algorithms) and from the standard (what each
national claim means, §3 and the JSON Schema) — never written by hand, so it cannot drift.  The
worked example is signed by a key derived from the format's name (:func:`make_example`, RFC 6979
signatures for ES256), so regenerating a page gives the same example byte for byte; a page
carries its :class:`Example` (QR text and public JWK), which must be that fixed example, and
rendering a page *with that example* must reproduce it byte for byte.  That is what
``--check`` and ``tests/test_format_docs.py`` assert.

    python -m tools.formatdoc --write     # (re)write stale pages, keep current ones
    python -m tools.formatdoc --check     # exit 1 naming the stale pages

Everything here is a pure function of its arguments (and the committed standard) except the
small file-handling layer of :mod:`.pages`.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from config.settings import load_settings
from tools.formatdoc.pages import (  # noqa: F401 — the generator's API
    current_page, example_is_current, example_key, format_summary, make_example, orphan_pages, page_kind,
    page_path, parse_example, stale_pages, write_pages)
from tools.formatdoc.sections import (  # noqa: F401
    DOCS_DIR, EXAMPLE_CLAIMS, EXAMPLE_IAT, EXAMPLE_TTL, MARKER, Example, algorithms_of, documented_formats,
    example_alg, example_claims, example_region, generated_formats, regions_using, render_page,
    standard_claim_rows, vocabulary)

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.formatdoc",
                                     description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite stale pages")
    mode.add_argument("--check", action="store_true", help="exit 1 if any page is stale")
    parser.add_argument("--dir", type=Path, default=DOCS_DIR, help="pages directory (default docs/formats)")
    args = parser.parse_args(argv)
    regions = load_settings().regions
    if args.write:
        for line in write_pages(regions, args.dir):
            print(line)
        return 0
    stale = stale_pages(regions, args.dir)
    for name in stale:
        print(f"stale: {args.dir / name} (run python -m tools.formatdoc --write)", file=sys.stderr)
    return 1 if stale else 0


