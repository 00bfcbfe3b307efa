"""Authorization Server Metadata (RFC 8414), and the URLs it names."""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc8414 import get_well_known_url

from aim_identity.config import Settings

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
GRANT_TYPES = ("client_credentials", TOKEN_EXCHANGE)

TOKEN_PATH, INTROSPECTION_PATH, REVOCATION_PATH = "/oauth/token", "/oauth/introspect", "/oauth/revoke"


def issuer(settings: Settings) -> str:
    return settings.issuer_url


def token_endpoint(settings: Settings) -> str:
    return settings.issuer_url + TOKEN_PATH


def well_known_paths(settings: Settings) -> list[str]:
    """Where the document is served: at the root, and (for an issuer with a path) after the
    well-known prefix as RFC 8414 section 3 inserts it."""
    return list(dict.fromkeys(["/.well-known/oauth-authorization-server", get_well_known_url(issuer(settings))]))


def document(settings: Settings) -> dict[str, Any]:
    base = settings.issuer_url
    return {
        "issuer": base,
        "token_endpoint": base + TOKEN_PATH,
        "introspection_endpoint": base + INTROSPECTION_PATH,
        "revocation_endpoint": base + REVOCATION_PATH,
        "jwks_uri": base + "/.well-known/jwks.json",
        "grant_types_supported": list(GRANT_TYPES),
        # Agents prove themselves with their Ed25519 key; a token exchange needs no client credential,
        # the agent token being one.
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["EdDSA"],
        # MCP servers, with the credentials AIM issued them (createMCPServerCredentials).
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        # No authorization endpoint: no person is asked, an agent proves itself with its key.
        "response_types_supported": [],
    }
