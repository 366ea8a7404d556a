"""Trust an entra-sso session in Django.

`EntraSSOMiddleware` (in place of Django's `AuthenticationMiddleware`) sets `request.user` on
every request from the entra-sso session cookie, verified against the deployment's published
keys, or, behind a forward-auth proxy, from the `X-MS-CLIENT-PRINCIPAL` headers. No Django
session is needed to authenticate. Settings: `ENTRA_SSO` (see `conf.py` and the README).
"""
