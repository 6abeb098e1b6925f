"""pyvo's whole SODA scenario with OpenID Connect bearer tokens, against a dataset only one group
may have: for a member, a sync cutout, the dataset's DataLink links and a cutout through their
SODA descriptor, and an async job whose result is the sync cutout; for an identity outside the
group, 403, a DataLink fault row and a failed job (DataLink 1.1's link_auth and link_authorized
telling each whether it may use the link); without a token, 401 with the issuer's
challenge.

Usage: pyvo_rights.py BASE_URL DATASET MEMBER_TOKEN MEMBER OTHER_TOKEN OTHER
(BASE_URL is http://HOST:PORT/soda)
Prints one line per check; exits non-zero on the first failure.
"""
import io
import sys
import warnings

warnings.simplefilter("ignore")

from astropy.io import fits
from pyvo.dal.adhoc import DatalinkResults, SodaQuery
from pyvo.dal.tap import AsyncTAPJob

from pyvo_auth import CIRCLE, refused, session_with, sync

base, dataset, member_token, member, other_token, other = sys.argv[1:7]


def run_job(session):
    created = session.post(base + "/async", data={"ID": dataset, "CIRCLE": "10.68 41.27 0.01"}, allow_redirects=False)
    assert created.status_code == 303, (created.status_code, created.text)
    job = AsyncTAPJob(created.headers["Location"], session=session)
    job.run()
    job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=60)
    return job


# A member: sync, DataLink (and a cutout through its descriptor), async.
session = session_with(base, member_token)
query, stream = sync(base, session, dataset)
query.raise_if_error()
assert stream.headers.get("X-VO-Authenticated") == member, dict(stream.headers)
cutout = stream.read()
shape = fits.open(io.BytesIO(cutout))[0].data.shape
print("member: sync cutout as", member, shape)

links = DatalinkResults.from_result_url(f"{base}/links?ID={dataset}", session=session)
this = next(row for row in links if row.semantics == "#this")
assert not this.error_message and this.access_url == f"{base}/sync?ID={dataset}", (this.error_message, this.access_url)
# DataLink 1.1: the link needs authentication, and this caller may use it.
assert (this["link_auth"], bool(this["link_authorized"])) == ("true", True), (this["link_auth"], this["link_authorized"])
# As the record's processed() builds it, but with the session: processed() drops it (pyvo 1.9).
descriptor = links.get_adhocservice_by_ivoid("ivo://ivoa.net/std/SODA#sync-1.0")
query = SodaQuery.from_resource(links.get_first_proc(), descriptor, circle=CIRCLE, session=session)
processed = query.execute_stream().read()
query.raise_if_error()
assert processed == cutout, "the descriptor's cutout is the sync cutout"
print("member: datalink #this and a cutout through the SODA descriptor")

job = run_job(session)
assert job.phase == "COMPLETED", job.phase
assert job.owner == member, job.owner
uris = list(job.result_uris)
assert len(uris) == 1, uris
result = session.get(uris[0])
assert result.status_code == 200 and result.content == cutout, result.status_code
print("member: async job", job.job_id, "COMPLETED, its result is the sync cutout")
job.delete()

# Another identity: refused everywhere, told why.
session = session_with(base, other_token)
headers = refused(*sync(base, session, dataset), 403, "a non-member")
assert headers.get("X-VO-Authenticated") == other, dict(headers)
print("other: sync refused, 403 as", other)

links = DatalinkResults.from_result_url(f"{base}/links?ID={dataset}", session=session)
rows = list(links)
assert len(rows) == 1 and rows[0].error_message.startswith("DefaultFault: AuthorizationError: "), [r.error_message for r in rows]
assert (rows[0]["link_auth"], bool(rows[0]["link_authorized"])) == ("true", False), (rows[0]["link_auth"], rows[0]["link_authorized"])
print("other: datalink fault row:", rows[0].error_message)

job = run_job(session)
assert job.phase == "ERROR", job.phase
error = session.get(job.url + "/error").text
assert error.startswith("AuthorizationError: "), error
print("other: async job ERROR:", error.strip())
job.delete()

# No token: 401 with the issuer's challenge.
headers = refused(*sync(base, session_with(base, None), dataset), 401, "an anonymous caller")
challenge = headers.get("WWW-Authenticate", "")
assert "ivoa_bearer" in challenge and "discovery_url=" in challenge, challenge
print("anonymous: sync refused, 401 with ivoa_bearer and its discovery_url")
