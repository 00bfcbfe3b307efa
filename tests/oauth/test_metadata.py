"""Authorization Server Metadata (RFC 8414): served where clients look for it, and valid by authlib's
reading of the RFC."""

from __future__ import annotations

import httpx
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata

from aim_identity.config import Settings
from aim_identity.oauth import metadata


async def test_the_document_names_every_endpoint_and_method(server: str):
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{server}/.well-known/oauth-authorization-server")
        assert response.status_code == 200
        document = response.json()
        assert (await http.get(document["jwks_uri"])).json()["keys"]
    assert document["issuer"] == server
    assert document["token_endpoint"] == f"{server}/oauth/token"
    assert document["introspection_endpoint"] == f"{server}/oauth/introspect"
    assert document["revocation_endpoint"] == f"{server}/oauth/revoke"
    assert document["grant_types_supported"] == [
        "client_credentials",
        "urn:ietf:params:oauth:grant-type:token-exchange",
    ]
    assert "private_key_jwt" in document["token_endpoint_auth_methods_supported"]
    assert document["token_endpoint_auth_signing_alg_values_supported"] == ["EdDSA"]
    assert document["introspection_endpoint_auth_methods_supported"] == ["client_secret_basic", "client_secret_post"]


def test_an_issuer_with_a_path_is_served_under_it_and_validates():
    settings = Settings(public_url="https://aim.example.com/tenant/", secret_key=None)
    document = metadata.document(settings)
    assert document["issuer"] == "https://aim.example.com/tenant"
    # authlib checks each field as RFC 8414 describes it (https, no query or fragment, well-formed lists),
    # and wants a response type; AIM has no authorization endpoint, so it lists none.
    checked = AuthorizationServerMetadata(document)
    for name in dir(checked):
        if name.startswith("validate_") and name != "validate_response_types_supported":
            getattr(checked, name)()
    assert document["response_types_supported"] == []
    assert metadata.well_known_paths(settings) == [
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-authorization-server/tenant",
    ]
