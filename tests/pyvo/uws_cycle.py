"""Drives a UWS job list with pyvo, as an astronomer's script would.

Usage: uws_cycle.py JOBS_URL
Creates a job by POST, follows the Location, runs it through pyvo's AsyncTAPJob (the generic UWS
client pyvo has), waits with WAIT=-1, parses every job document with pyvo.io.uws.parse_job, and
deletes the job. Prints one line per check; exits non-zero on the first failure.
"""
import io
import sys
import warnings

warnings.simplefilter("ignore")

import requests
from pyvo.dal.tap import AsyncTAPJob
from pyvo.io.uws import parse_job

jobs_url = sys.argv[1]
session = requests.Session()

created = session.post(jobs_url, data={"ID": "m31", "CIRCLE": "10.68 41.27 0.1", "RUNID": "pyvo-run"}, allow_redirects=False)
assert created.status_code == 303, created.text
job_url = created.headers["Location"]
print("created", job_url)

job = AsyncTAPJob(job_url, session=session)
assert job.phase == "PENDING", job.phase
assert job.job.runid == "pyvo-run", job.job.runid
parameters = {p.id_.upper(): p.content for p in job.job.parameters}
assert parameters.get("ID") == "m31" and parameters.get("CIRCLE") == "10.68 41.27 0.1", parameters
print("pending with parameters", parameters)

job.run()
job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=60)
final = job.phase
assert final in {"COMPLETED", "ERROR"}, final
print("ended in", final)

document = session.get(job_url)
assert document.status_code == 200 and document.headers["Content-Type"].startswith("application/xml")
parsed = parse_job(io.BytesIO(document.content))
assert parsed.jobid == job_url.rsplit("/", 1)[1], parsed.jobid
assert parsed.phase == final
print("parse_job ok:", parsed.jobid, parsed.phase)
if final == "ERROR":
    assert parsed.errorsummary is not None and parsed.errorsummary.message.content, "an ERROR job says why"
    print("error summary:", parsed.errorsummary.message.content)
else:
    print("results:", job.result_uris)

listing = session.get(jobs_url)
assert listing.status_code == 200 and job_url in listing.text, listing.text

job.delete()
assert session.get(job_url).status_code == 404
print("deleted")
