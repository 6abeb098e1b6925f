"""Follows the SODA server's DataLink service descriptor through a reverse proxy with pyvo.

Usage: proxy_datalink.py BASE_URL   (BASE_URL is the service as the proxy publishes it,
http://127.0.0.1:PORT/PREFIX/soda)
Prints one line per check; exits non-zero on the first failure.
"""
import io
import sys
import warnings

warnings.simplefilter("ignore")

import astropy.units as u
import requests
from astropy.io import fits
from pyvo.dal.adhoc import DatalinkResults

base = sys.argv[1]
session = requests.Session()

links = DatalinkResults.from_result_url(base + "/links?ID=sample-image", session=session)
this = next(row for row in links if row.semantics == "#this")
assert this.access_url == base + "/sync?ID=sample-image", this.access_url
print("datalink: #this under the proxy:", this.access_url)

descriptor = links.get_adhocservice_by_ivoid("ivo://ivoa.net/std/SODA#sync-1.0")
assert descriptor is not None, "no SODA service descriptor"
access_url = str(next(param.value for param in descriptor.params if param.name == "accessURL"))
assert access_url == base + "/sync", access_url
print("datalink: descriptor accessURL under the proxy:", access_url)

proc = links.get_first_proc()
cutout = proc.processed(circle=(10.70, 41.26, 0.02) * u.deg).read()
hdu = fits.open(io.BytesIO(cutout))[0]
# 0.02 deg at 1 arcsec per pixel: about 144 pixels across.
assert hdu.data is not None and 140 <= hdu.data.shape[0] <= 147 and 140 <= hdu.data.shape[1] <= 147, hdu.data.shape
print("datalink: processed() through the proxy gives a cutout of", hdu.data.shape)
