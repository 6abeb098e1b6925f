"""The pixel box a SODA cutout should have, computed with astropy alone, for comparison with the server.

Reads JSON from stdin: [{"file": path, "hdu": n (optional, 0 by default), "circle": [lon, lat, r] | "polygon": [lon, lat, ...] |
"range": [lon1, lon2, lat1, lat2], "band": [lo, hi] (metres), "pol": ["Q", ...]}, ...]
Writes JSON to stdout: for each case, [[first, last], ...] per FITS axis (1-based, inclusive).

A pixel belongs to the box when its extent (centre ± 0.5) meets the region's extent in pixel
coordinates. The spatial extent is that of the region's boundary, sampled densely: circles along
their circumference, polygon edges along great circles, range edges along meridians and parallels.
"""
import json
import math
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore")

from astropy.io import fits
from astropy.wcs import WCS

STOKES = {"I": 1, "Q": 2, "U": 3, "V": 4}
N = 20000


def unit(lon, lat):
    lon, lat = np.radians(lon), np.radians(lat)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], axis=-1)


def lonlat(v):
    v = v / np.linalg.norm(v, axis=-1, keepdims=True)
    return np.degrees(np.arctan2(v[..., 1], v[..., 0])) % 360.0, np.degrees(np.arcsin(np.clip(v[..., 2], -1, 1)))


def circle(lon, lat, r):
    lat0, lon0, r = math.radians(lat), math.radians(lon), math.radians(r)
    bearing = np.linspace(0.0, 2 * math.pi, N, endpoint=False)
    lat1 = np.arcsin(math.sin(lat0) * math.cos(r) + math.cos(lat0) * math.sin(r) * np.cos(bearing))
    lon1 = lon0 + np.arctan2(np.sin(bearing) * math.sin(r) * math.cos(lat0), math.cos(r) - math.sin(lat0) * np.sin(lat1))
    return np.degrees(lon1) % 360.0, np.degrees(lat1)


def polygon(values):
    vertices = unit(np.array(values[0::2]), np.array(values[1::2]))
    lons, lats = [], []
    for a, b in zip(vertices, np.roll(vertices, -1, axis=0)):
        omega = math.acos(float(np.clip(np.dot(a, b), -1, 1)))
        t = np.linspace(0.0, 1.0, N)[:, None]
        points = (np.sin((1 - t) * omega) * a + np.sin(t * omega) * b) / math.sin(omega)
        lon, lat = lonlat(points)
        lons.append(lon)
        lats.append(lat)
    return np.concatenate(lons), np.concatenate(lats)


def lon_lat_range(lon1, lon2, lat1, lat2):
    t = np.linspace(0.0, 1.0, N)
    lon = lon1 + (lon2 - lon1) * t
    lat = lat1 + (lat2 - lat1) * t
    return (
        np.concatenate([lon, lon, np.full(N, lon1), np.full(N, lon2)]),
        np.concatenate([np.full(N, lat1), np.full(N, lat2), lat, lat]),
    )


def pixel_range(lo, hi, n):
    first = max(math.floor(lo + 0.5), 1)
    last = min(math.ceil(hi + 0.5) - 1, n)
    return [first, last] if first <= last else None


out = []
for case in json.load(sys.stdin):
    header = fits.getheader(case["file"], case.get("hdu", 0))
    wcs = WCS(header)
    naxis = [header[f"NAXIS{i}"] for i in range(1, header["NAXIS"] + 1)]
    box = [[1, n] for n in naxis]
    if "circle" in case:
        lon, lat = circle(*case["circle"])
    elif "polygon" in case:
        lon, lat = polygon(case["polygon"])
    elif "range" in case:
        lon, lat = lon_lat_range(*case["range"])
    else:
        lon = None
    if lon is not None:
        celestial = wcs.celestial
        x, y = celestial.all_world2pix(lon, lat, 1)
        lon_axis, lat_axis = wcs.wcs.lng, wcs.wcs.lat
        box[lon_axis] = pixel_range(float(x.min()), float(x.max()), naxis[lon_axis])
        box[lat_axis] = pixel_range(float(y.min()), float(y.max()), naxis[lat_axis])
    for i, ctype in enumerate(wcs.wcs.ctype):
        if ctype.startswith(("WAVE", "STOKES")):
            axis = wcs.sub([i + 1])
        if ctype.startswith("WAVE") and "band" in case:
            # astropy keeps the spectral axis in SI units (metres), the unit of BAND.
            (lo, hi) = sorted(float(axis.wcs_world2pix([w], 1)[0][0]) for w in case["band"])
            box[i] = pixel_range(lo, hi, naxis[i])
        elif ctype.startswith("STOKES") and "pol" in case:
            pixels = sorted(int(round(float(axis.wcs_world2pix([STOKES[p]], 1)[0][0]))) for p in case["pol"])
            box[i] = [pixels[0], pixels[-1]]
    out.append(box)
json.dump(out, sys.stdout)
