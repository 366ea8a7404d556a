"""Reading App Service–style identity headers (`X-MS-CLIENT-PRINCIPAL`), as `/api/auth` sets them.

These headers carry no signature: they are only as trustworthy as the proxy in front, which must
overwrite every client-sent copy (examples/nginx/). MODE "headers" therefore needs
TRUST_FORWARD_AUTH_HEADERS = True.
"""

import base64
import binascii
import json

OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
TID = "http://schemas.microsoft.com/identity/claims/tenantid"
NAMEID = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/nameidentifier"
EMAIL = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress"
ROLE = "http://schemas.microsoft.com/ws/2008/06/identity/claims/role"
GROUPS = "groups"
MAX_PRINCIPAL_BYTES = 16 * 1024

SINGLE = {OID: "oid", "oid": "oid", TID: "tid", "tid": "tid", NAMEID: "sub", "sub": "sub",
          "name": "name", "preferred_username": "preferred_username", EMAIL: "email",
          "email": "email"}


class Rejected(Exception):
    """Why the headers were not accepted."""


def claims_from_principal(value):
    """Session-shaped claims (oid, tid, sub, name, preferred_username, email, roles, groups)."""
    if not value or len(value) > MAX_PRINCIPAL_BYTES:
        raise Rejected("empty or oversized X-MS-CLIENT-PRINCIPAL")
    try:
        doc = json.loads(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        raise Rejected("X-MS-CLIENT-PRINCIPAL is not base64 JSON") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("claims"), list):
        raise Rejected("X-MS-CLIENT-PRINCIPAL has no claims list")
    role_typ = doc.get("role_typ") or ROLE
    claims = {"roles": [], "groups": []}
    for c in doc["claims"]:
        if not isinstance(c, dict) or not isinstance(c.get("typ"), str) or not isinstance(c.get("val"), str):
            continue
        typ, val = c["typ"], c["val"]
        if typ in (role_typ, "roles"):
            claims["roles"].append(val)
        elif typ == GROUPS:
            claims["groups"].append(val)
        elif typ in SINGLE:
            claims.setdefault(SINGLE[typ], val)
    if not claims.get("oid") and not claims.get("sub"):
        raise Rejected("X-MS-CLIENT-PRINCIPAL names no object id or subject")
    claims.setdefault("sub", claims.get("oid"))
    return claims


def claims_from_headers(meta, config):
    """Claims from the request's identity headers (WSGI META), or None without them."""
    value = meta.get("HTTP_X_MS_CLIENT_PRINCIPAL")
    if not value:
        return None
    claims = claims_from_principal(value)
    principal_id = meta.get("HTTP_X_MS_CLIENT_PRINCIPAL_ID")
    if principal_id and principal_id != (claims.get("oid") or claims.get("sub")):
        raise Rejected("X-MS-CLIENT-PRINCIPAL-ID disagrees with X-MS-CLIENT-PRINCIPAL")
    if config.tenants and str(claims.get("tid", "")).lower() not in config.tenants:
        raise Rejected("tenant not in ENTRA_SSO TENANTS")
    return claims
