"""The logo the AS serves on a client's behalf (CIMD -02 §8.8: prefetch logos, so the user's
browser never contacts the client's host).

Those bytes come from a URL the client chose, and the AS serves them from its own origin, where
the consent page lives. Served as `text/html` or `image/svg+xml`, a `<script>` in them runs on
the AS's origin and can read a consent transaction and approve it (stored XSS). So the hardened
AS decides the type itself, by the file's magic bytes, and keeps only raster images a browser
cannot execute: PNG, JPEG, GIF and WebP. Anything else is refused at registration. Every logo
response, under any policy, also carries `X-Content-Type-Options: nosniff` (the browser must
not guess another type) and a CSP that forbids everything, scripts included (`sandbox`).
"""

from __future__ import annotations

# What browsers recognise (WHATWG MIME Sniffing §6.1, "image type pattern matching").
_SIGNATURES: tuple[tuple[bytes, bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", b"\xff" * 8, "image/png"),
    (b"\xff\xd8\xff", b"\xff" * 3, "image/jpeg"),
    (b"GIF87a", b"\xff" * 6, "image/gif"),
    (b"GIF89a", b"\xff" * 6, "image/gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP", b"\xff\xff\xff\xff\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff", "image/webp"),
)

LOGO_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Cache-Control": "no-store",
}


def sniff_raster_image(body: bytes) -> str | None:
    """The raster image type the bytes really are, or None (SVG, HTML, anything else)."""
    for pattern, mask, media_type in _SIGNATURES:
        head = body[: len(pattern)]
        if len(head) == len(pattern) and all(b & m == p for b, m, p in zip(head, mask, pattern, strict=True)):
            return media_type
    return None
