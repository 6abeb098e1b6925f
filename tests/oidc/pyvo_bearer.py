"""pyvo against a server that accepts OpenID Connect tokens: an AuthSession whose OAuth credentials
are a requests session carrying the bearer token runs a SODA sync cutout as the token's identity;
the same token with its signature changed is refused with 401.

Usage: pyvo_bearer.py BASE_URL TOKEN IDENTITY   (BASE_URL is http://HOST:PORT/soda)
Prints one line per check; exits non-zero on the first failure.
"""
import io
import sys
import warnings

warnings.simplefilter("ignore")

import astropy.units as u
import requests
from astropy.io import fits
from pyvo.auth import AuthSession
from pyvo.dal import DALServiceError
from pyvo.dal.adhoc import SodaQuery

base, token, identity = sys.argv[1:4]
OAUTH = "ivo://ivoa.net/sso#OAuth"


def session_with(token):
    """An AuthSession that sends `token` to every URL under the service."""
    bearer = requests.Session()
    bearer.headers["Authorization"] = "Bearer " + token
    session = AuthSession()
    session.credentials.set(OAUTH, bearer)
    session.add_security_method_for_url(base, OAUTH)
    return session


def cutout(session):
    query = SodaQuery(base + "/sync", circle=(10.68, 41.27, 0.01) * u.deg, session=session)
    query["ID"] = "sample-image"
    return query, query.execute_stream()


query, stream = cutout(session_with(token))
query.raise_if_error()
assert stream.headers.get("X-VO-Authenticated") == identity, dict(stream.headers)
hdu = fits.open(io.BytesIO(stream.read()))[0]
assert hdu.data.ndim == 2 and min(hdu.data.shape) > 10, hdu.data.shape
print("sync cutout as", identity, hdu.data.shape)

head, payload, signature = token.split(".")
forged = ".".join([head, payload, ("B" if signature[0] == "A" else "A") + signature[1:]])
query, stream = cutout(session_with(forged))
try:
    query.raise_if_error()
    raise AssertionError("a forged token was served")
except DALServiceError as e:
    assert e.code == 401, e
    challenge = stream.headers.get("WWW-Authenticate", "")
    assert 'error="invalid_token"' in challenge, challenge
    print("forged token refused: 401 invalid_token")
