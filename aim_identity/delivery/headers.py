"""The security headers on every HTTP answer, set by the `secure` library's middleware: no content
sniffing, no framing, no referrer, no shared browsing context. Production adds HSTS and a content
policy that allows nothing, since it serves no page at all (no IDE): only JSON and downloads."""

from __future__ import annotations

from secure import (
    ContentSecurityPolicy,
    CrossOriginOpenerPolicy,
    ReferrerPolicy,
    Secure,
    StrictTransportSecurity,
    XContentTypeOptions,
    XFrameOptions,
)
from secure.middleware import SecureASGIMiddleware
from starlette.middleware import Middleware

HSTS_SECONDS = 2 * 365 * 24 * 3600


def security_headers(production: bool) -> Middleware:
    headers = Secure(
        coop=CrossOriginOpenerPolicy().same_origin(),
        referrer=ReferrerPolicy().no_referrer(),
        xcto=XContentTypeOptions(),
        xfo=XFrameOptions().deny(),
        hsts=StrictTransportSecurity().max_age(HSTS_SECONDS).include_subdomains() if production else None,
        csp=ContentSecurityPolicy().default_src("'none'").frame_ancestors("'none'") if production else None,
    )
    return Middleware(SecureASGIMiddleware, secure=headers)
