"""astropy's all_world2pix on FITS headers, for comparison with the server's own WCS code (SIP
distortion included, solved to 1e-12 pixel).

Reads JSON from stdin: [{"cards": ["80-character card", ...], "world": [[lon, lat], ...]}, ...]
Writes JSON to stdout: [[[x, y], ...], ...], FITS 1-based pixel coordinates.
"""
import json
import sys
import warnings

warnings.simplefilter("ignore")

from astropy.io import fits
from astropy.wcs import WCS

out = []
for case in json.load(sys.stdin):
    header = fits.Header.fromstring("".join(case["cards"]))
    wcs = WCS(header).celestial
    out.append(wcs.all_world2pix(case["world"], 1, tolerance=1e-12, maxiter=100).tolist())
json.dump(out, sys.stdout)
