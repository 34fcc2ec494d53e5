"""Build the Lambda deployment package (a zip archive) from the handler sources."""

import hashlib
import zipfile
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import variants.handlers

# Fixed timestamps make the archive, and so its SHA-256, depend on the sources only.
_ZIP_TIMESTAMP = (1980, 1, 1, 0, 0, 0)
_PACKAGE_ROOT = "variants"
_ROOT_INIT = '"""Handler package deployed by fanout-bench; only variants.handlers is included."""\n'


@dataclass(frozen=True)
class Package:
    """A deployment package: the zip bytes and the digest Lambda reports as CodeSha256."""

    data: bytes
    files: tuple[str, ...]

    @property
    def sha256(self) -> str:
        """Return the hex SHA-256 of the archive."""
        return hashlib.sha256(self.data).hexdigest()


def handler_sources() -> list[Path]:
    """Return the handler modules to package: every .py file of variants/handlers."""
    folder = Path(variants.handlers.__file__).resolve().parent
    return sorted(folder.glob("*.py"))


def build_package() -> Package:
    """Zip variants/handlers under its import path, so "variants.handlers.worker.handler" resolves.

    Only the handler package is shipped: the variant descriptions and the
    harness stay on the machine that runs `bench`.
    """
    entries = {f"{_PACKAGE_ROOT}/__init__.py": _ROOT_INIT.encode("utf-8")}
    for source in handler_sources():
        entries[f"{_PACKAGE_ROOT}/handlers/{source.name}"] = source.read_bytes()

    buffer = BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIMESTAMP)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, entries[name])
    return Package(buffer.getvalue(), tuple(sorted(entries)))
