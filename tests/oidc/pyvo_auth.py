"""What the pyvo scripts of the OpenID Connect tests share: a bearer-token AuthSession, a SODA
sync cutout through pyvo, and the check that a request was refused."""
import astropy.units as u
import requests
from pyvo.auth import AuthSession
from pyvo.dal import DALServiceError
from pyvo.dal.adhoc import SodaQuery

OAUTH = "ivo://ivoa.net/sso#OAuth"
CIRCLE = (10.68, 41.27, 0.01) * u.deg


def session_with(base, token):
    """An AuthSession that sends `token` to every URL under `base` (None: anonymous)."""
    session = AuthSession()
    if token:
        bearer = requests.Session()
        bearer.headers["Authorization"] = "Bearer " + token
        session.credentials.set(OAUTH, bearer)
        session.add_security_method_for_url(base, OAUTH)
    return session


def sync(base, session, dataset):
    """A sync cutout of `dataset` around CIRCLE, as pyvo asks for it: the query and its stream."""
    query = SodaQuery(base + "/sync", circle=CIRCLE, session=session)
    query["ID"] = dataset
    return query, query.execute_stream()


def refused(query, stream, status, who):
    """Asserts that `query` was refused with `status`; the refusal's headers."""
    try:
        query.raise_if_error()
    except DALServiceError as e:
        assert e.code == status, e
        return stream.headers
    raise AssertionError(f"{who} was served")
