"""The app's CSS, JS and chart library, served by the app itself (no CDN: it works offline).

Each asset is read once, gzipped once and served under a URL carrying its content hash,
so browsers cache it for good and fetch it again only when it changes. Plotly's bundle
(~4.8 MB, ~1.4 MB gzipped) comes from the installed `plotly` package.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
from pathlib import Path

from starlette.requests import Request
from starlette.responses import Response

STATIC = Path(__file__).parent / "static"
TYPES = {
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclasses.dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes
    media_type: str
    digest: str


def _plotly_js() -> bytes:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs().encode("utf-8")


class Assets:
    def __init__(self) -> None:
        self._assets: dict[str, Asset] = {}
        for path in sorted(STATIC.iterdir()):
            if path.suffix in TYPES:
                self._add(path.name, path.read_bytes())
        self._add("plotly.min.js", _plotly_js())

    def _add(self, name: str, body: bytes) -> None:
        media = TYPES[Path(name).suffix]
        digest = hashlib.sha256(body).hexdigest()[:12]
        self._assets[name] = Asset(body, gzip.compress(body, 6, mtime=0), media, digest)

    def url(self, name: str) -> str:
        return f"/static/{name}?v={self._assets[name].digest}"

    def response(self, request: Request) -> Response:
        name = request.path_params["name"]
        asset = self._assets.get(name)
        if asset is None:
            return Response("not found", status_code=404, media_type="text/plain")
        headers = {
            "cache-control": "public, max-age=31536000, immutable"
            if request.query_params.get("v") == asset.digest
            else "no-cache",
            "etag": f'"{asset.digest}"',
            "vary": "accept-encoding",
        }
        if request.headers.get("if-none-match") == headers["etag"]:
            return Response(status_code=304, headers=headers)
        if "gzip" in request.headers.get("accept-encoding", ""):
            headers["content-encoding"] = "gzip"
            return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
        return Response(asset.body, media_type=asset.media_type, headers=headers)
