"""Runs one job to completion with pyvo and fetches its results through result_uris.

Usage: uws_results.py JOBS_URL
"""
import sys
import warnings

warnings.simplefilter("ignore")

import requests
from pyvo.dal.tap import AsyncTAPJob

jobs_url = sys.argv[1]
session = requests.Session()
created = session.post(jobs_url, data={"MODE": "ok"}, allow_redirects=False)
assert created.status_code == 303, created.text
job = AsyncTAPJob(created.headers["Location"], session=session)
job.run()
job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=60)
assert job.phase == "COMPLETED", job.phase
uris = list(job.result_uris)
assert len(uris) == 1, uris
fetched = session.get(uris[0])
assert fetched.status_code == 200 and fetched.headers["Content-Type"] == "text/plain", fetched.headers
job_id = job.url.rsplit("/", 1)[1]
assert fetched.text == f"result of job {job_id}", fetched.text
print("result fetched:", uris[0], fetched.text)
job.delete()
print("deleted")
