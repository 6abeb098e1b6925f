"""Drives the SODA cutout server with pyvo and checks the FITS it returns with astropy.

Usage: soda_cutouts.py BASE_URL   (BASE_URL is http://HOST:PORT/soda)
Prints one line per check; exits non-zero on the first failure.
"""
import io
import sys
import time
import warnings

warnings.simplefilter("ignore")

import astropy.units as u
import numpy as np
import requests
from astropy.io import fits
from astropy.wcs import WCS
from pyvo.dal.adhoc import DatalinkResults, SodaQuery
from pyvo.dal.tap import AsyncTAPJob

base = sys.argv[1]
sync = base + "/sync"
session = requests.Session()


def open_fits(data):
    hdul = fits.open(io.BytesIO(data))
    assert hdul[0].data is not None, "no data"
    return hdul[0]


def centre_check(hdu, ra, dec, label):
    """The sky position of the cutout's centre pixel is the requested centre, within one pixel."""
    w = WCS(hdu.header).celestial
    ny, nx = hdu.data.shape[-2:]
    x, y = w.all_world2pix([[ra, dec]], 1)[0]
    cx, cy = (nx + 1) / 2, (ny + 1) / 2
    assert abs(x - cx) <= 1 and abs(y - cy) <= 1, (label, x, y, cx, cy)
    print(label, "centre within one pixel:", round(x - cx, 3), round(y - cy, 3))


# 1. SodaQuery with a circle on the image: FITS that astropy opens, centred on the request.
query = SodaQuery(sync, circle=(10.70, 41.26, 0.02) * u.deg, session=session)
query["ID"] = "sample-image"
response = query.execute_stream().read()
image = open_fits(response)
assert image.data.ndim == 2, image.data.shape
# 0.02 deg at 1 arcsec per pixel: about 144 pixels across.
assert 140 <= image.data.shape[0] <= 147 and 140 <= image.data.shape[1] <= 147, image.data.shape
centre_check(image, 10.70, 41.26, "sync circle")
circle_bytes = response

# 2. The cube: band, time and pol give the expected axis lengths (numpy order: STOKES, WAVE, DEC, RA).
full = open_fits(session.get(sync, params={"ID": "sample-cube"}).content)
assert full.data.shape == (4, 40, 64, 64), full.data.shape
query = SodaQuery(sync, band=(5.2e-7, 5.4e-7) * u.m, session=session)
query["ID"] = "sample-cube"
cube = open_fits(query.execute_stream().read())
# 5e-7 + 5e-9 (p - 1): 5.2e-7 is pixel 5, 5.4e-7 pixel 9.
assert cube.data.shape == (4, 5, 64, 64), cube.data.shape
assert cube.header["CRPIX3"] == -3, cube.header["CRPIX3"]
print("band: WAVE axis 5 long")
query = SodaQuery(sync, session=session)
query["ID"] = "sample-cube"
query["POL"] = ["Q", "U"]
cube = open_fits(query.execute_stream().read())
assert cube.data.shape == (2, 40, 64, 64), cube.data.shape
assert np.array_equal(cube.data, full.data[1:3]), "pol slice differs from the full cube"
print("pol: STOKES axis 2 long, values identical")
cube = open_fits(session.get(sync, params={"ID": "sample-cube", "TIME": "60000.2 60000.3"}).content)
assert cube.data.shape == (4, 40, 64, 64), cube.data.shape
gone = session.get(sync, params={"ID": "sample-cube", "TIME": "50000 50001"})
assert gone.status_code == 204 and gone.content == b"", (gone.status_code, gone.content[:100])
print("time: inside keeps the cube, outside is 204")
query = SodaQuery(sync, circle=(83.82, -5.39, 0.1) * u.deg, band=(5.0e-7, 5.1e-7) * u.m, session=session)
query["ID"] = "sample-cube"
query["POL"] = "I"
cube = open_fits(query.execute_stream().read())
assert cube.data.shape[0] == 1 and cube.data.shape[1] == 3 and 19 <= cube.data.shape[2] <= 22, cube.data.shape
centre_check(cube, 83.82, -5.39, "cube circle")

# 3. DataLink: from an ID to a cutout without knowing the URL scheme.
links = DatalinkResults.from_result_url(base + "/links?ID=sample-image", session=session)
# (bysemantics() would download the DataLink vocabulary; this machine may be offline.)
this = next(row for row in links if row.semantics == "#this")
assert this.content_type == "application/fits", this.content_type
proc = links.get_first_proc()
descriptor = links.get_adhocservice_by_ivoid("ivo://ivoa.net/std/SODA#sync-1.0")
assert descriptor is not None
processed = proc.processed(circle=(10.70, 41.26, 0.02) * u.deg).read()
assert processed == circle_bytes, "the DataLink cutout differs from the direct one"
print("datalink: processed() gives the same bytes as SodaQuery")

# 4. Async via UWS: the same bytes as sync.
created = session.post(base + "/async", data={"ID": "sample-image", "CIRCLE": "10.70 41.26 0.02"}, allow_redirects=False)
assert created.status_code == 303, created.text
job = AsyncTAPJob(created.headers["Location"], session=session)
job.run()
job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=60)
assert job.phase == "COMPLETED", (job.phase, job.job.errorsummary)
uris = list(job.result_uris)
assert len(uris) == 1, uris
assert session.get(uris[0]).content == circle_bytes, "the async cutout differs from the sync one"
print("async: one result, identical to sync")

# 5. Async with repeated filters: one result per combination; no overlap is a text/plain result.
created = session.post(
    base + "/async",
    data=[("ID", "sample-image"), ("ID", "sample-cube"), ("CIRCLE", "10.70 41.26 0.02"), ("CIRCLE", "83.82 -5.39 0.1"), ("PHASE", "RUN")],
    allow_redirects=False,
)
assert created.status_code == 303, created.text
job = AsyncTAPJob(created.headers["Location"], session=session)
job.wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=60)
assert job.phase == "COMPLETED", job.phase
results = [session.get(uri) for uri in job.result_uris]
kinds = [r.headers["Content-Type"].split(";")[0] for r in results]
assert kinds == ["application/fits", "text/plain", "text/plain", "application/fits"], kinds
assert results[1].text.startswith("Error: "), results[1].text
assert results[0].content == circle_bytes
print("async: 4 combinations, 2 cutouts and 2 text/plain errors")

# 6. A multi-extension file (HST WFPC2, four SCI extensions, the first without celestial axes):
#    SodaQuery gets the primary header and each extension the circle meets, EXTNAME/EXTVER kept;
#    DataLink's processed() the same bytes.
query = SodaQuery(sync, circle=(215.5905, -12.7352, 0.0005) * u.deg, session=session)
query["ID"] = "test0"
mef_bytes = query.execute_stream().read()
mef = fits.open(io.BytesIO(mef_bytes))
assert [(hdu.name, hdu.ver) for hdu in mef[1:]] == [("SCI", 2), ("SCI", 3), ("SCI", 4)], [(h.name, h.ver) for h in mef]
for hdu in mef[1:]:
    assert hdu.data is not None and hdu.data.shape[0] > 0
    # The circle's centre falls in each cut extension's box (they overlap on the sky).
    x, y = WCS(hdu.header).celestial.all_world2pix([[215.5905, -12.7352]], 1)[0]
    ny, nx = hdu.data.shape
    assert 0.5 <= x <= nx + 0.5 and 0.5 <= y <= ny + 0.5, (hdu.ver, x, y, hdu.data.shape)
links = DatalinkResults.from_result_url(base + "/links?ID=test0", session=session)
processed = links.get_first_proc().processed(circle=(215.5905, -12.7352, 0.0005) * u.deg).read()
assert processed == mef_bytes, "the DataLink cutout of the multi-extension file differs"
this = next(row for row in links if row.semantics == "#this")
whole = session.get(this.access_url)
assert int(this.content_length) == len(whole.content), (this.content_length, len(whole.content))
assert len(fits.open(io.BytesIO(whole.content))) == 5, "the whole file: primary and four extensions"
print("multi-extension: SCI 2, 3, 4 cut, SCI 1 left out, datalink processed() the same bytes")
