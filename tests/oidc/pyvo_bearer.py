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

from astropy.io import fits

from pyvo_auth import refused, session_with, sync

base, token, identity = sys.argv[1:4]

query, stream = sync(base, session_with(base, token), "sample-image")
query.raise_if_error()
assert stream.headers.get("X-VO-Authenticated") == identity, dict(stream.headers)
hdu = fits.open(io.BytesIO(stream.read()))[0]
assert hdu.data.ndim == 2 and min(hdu.data.shape) > 10, hdu.data.shape
print("sync cutout as", identity, hdu.data.shape)

head, payload, signature = token.split(".")
forged = ".".join([head, payload, ("B" if signature[0] == "A" else "A") + signature[1:]])
headers = refused(*sync(base, session_with(base, forged), "sample-image"), 401, "a forged token")
challenge = headers.get("WWW-Authenticate", "")
assert 'error="invalid_token"' in challenge, challenge
print("forged token refused: 401 invalid_token")
