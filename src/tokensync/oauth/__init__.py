"""The OAuth 2.0 exchanges with a provider: the refresh grant and the classification of what the
token endpoint answers (token_endpoint.py), and revoking a grant (revocation.py, RFC 7009 and each
platform's own way)."""
