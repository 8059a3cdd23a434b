"""The report as PDF through WeasyPrint, an optional extra, fetching only the app's static files.

WeasyPrint would otherwise follow any URL in the page (images, style sheets,
``<link rel=attachment>``) to the network or the local disk.  The fetcher
here serves files under the app's static folder and refuses everything else;
it needs no WeasyPrint to be imported or tested.
"""

from __future__ import annotations

import mimetypes
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from werkzeug.security import safe_join

# The page is rendered as if it lived here; only URLs under STATIC_URL can be read.
BASE_URL = "https://report.delphi.invalid/"
INSTALL_HINT = "PDF export needs WeasyPrint, which is not installed: pip install 'delphi[pdf]'"


class PdfUnavailable(RuntimeError):
    """WeasyPrint (or the system libraries it needs) is not installed."""


class RefusedResource(ValueError):
    """The report asked for something other than one of the app's static files."""


@dataclass(frozen=True)
class StaticOnlyFetcher:
    """Resolve ``<BASE_URL>static/<file>`` to a file of ``static_folder``; refuse the rest."""

    static_folder: Path
    static_path: str = "/static/"
    base_url: str = BASE_URL

    def resolve(self, url: str) -> tuple[bytes, str]:
        """Return (data, MIME type) of an allowed URL, or raise RefusedResource."""
        parts = urlsplit(url)
        base = urlsplit(self.base_url)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or parts.query:
            raise RefusedResource(f"the report may not fetch {url!r}")
        path = unquote(parts.path)
        if not path.startswith(self.static_path):
            raise RefusedResource(f"the report may not fetch {url!r}")
        found = safe_join(str(self.static_folder), path[len(self.static_path):])
        if found is None or not Path(found).is_file():
            raise RefusedResource(f"no static file for {url!r}")
        mime = mimetypes.guess_type(found)[0] or "application/octet-stream"
        return Path(found).read_bytes(), mime

    def __call__(self, url: str) -> dict[str, Any]:
        """The fetcher protocol of WeasyPrint before version 66: a dict per URL."""
        data, mime = self.resolve(url)
        return {"string": data, "mime_type": mime, "redirected_url": url}


def import_weasyprint() -> Any:
    """Import WeasyPrint, raising PdfUnavailable with the install hint when it is missing."""
    try:
        with warnings.catch_warnings():
            # Some builds warn about optional system libraries at import time.
            warnings.simplefilter("ignore", DeprecationWarning)
            import weasyprint
    except (ImportError, OSError) as exc:
        raise PdfUnavailable(f"{INSTALL_HINT} ({exc})") from None
    return weasyprint


def pdf_available() -> bool:
    try:
        import_weasyprint()
    except PdfUnavailable:
        return False
    return True


def weasyprint_fetcher(fetcher: StaticOnlyFetcher, weasyprint: Any) -> Any:
    """Adapt the fetcher to the installed WeasyPrint (a URLFetcher class since version 66)."""
    urls = weasyprint.urls
    if not hasattr(urls, "URLFetcher"):
        return fetcher

    url_fetcher: Any = urls.URLFetcher  # a class of whichever WeasyPrint is installed

    class _StaticOnly(url_fetcher):
        def fetch(self, url: str, headers: Any = None) -> Any:
            data, mime = fetcher.resolve(url)
            return urls.URLFetcherResponse(url, data, {"Content-Type": mime})

    return _StaticOnly()


# Tagged PDF (structure tree, language, document title shown, alternative texts) as
# PDF/UA-1 asks; WeasyPrint also writes a bookmark for every heading (h1-h4).
PDF_VARIANT = "pdf/ua-1"


def html_to_pdf(html: str, static_folder: Path, uncompressed: bool = False) -> bytes:
    """Render the report HTML to a tagged PDF with bookmarks, reading nothing but static files.

    ``uncompressed`` writes plain object streams, for tests that look inside the file.
    """
    weasyprint = import_weasyprint()
    fetcher = weasyprint_fetcher(StaticOnlyFetcher(Path(static_folder)), weasyprint)
    document = weasyprint.HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher)
    return document.write_pdf(pdf_variant=PDF_VARIANT, uncompressed_pdf=uncompressed)
