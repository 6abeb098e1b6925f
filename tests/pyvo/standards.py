"""pyvo against the services `ivoagen init` writes: prints a JSON object of what came back.

Usage: standards.py scs|sia|ssa|datalink|tap BASE_URL
"""

import json
import sys
import urllib.parse

import pyvo


def main():
    kind, base = sys.argv[1], sys.argv[2]
    if kind == "scs":
        results = pyvo.dal.SCSService(base + "/search?").search(pos=(10.68, 41.27), radius=0.5)
        out = {"rows": len(results), "ids": sorted(str(r["id"]) for r in results)}
    elif kind == "sia":
        results = pyvo.dal.SIA2Service(base).search(pos=(10.68, 41.27, 0.5))
        out = {"rows": len(results), "access_urls": [r.access_url for r in results], "dataproduct_type": [str(r.dataproduct_type) for r in results]}
    elif kind == "ssa":
        results = pyvo.dal.SSAService(base + "/query").search(pos=(10.68, 41.27), diameter=0.1)
        out = {"rows": len(results), "access_urls": [r.getdataurl() for r in results], "titles": [str(r.title) for r in results]}
    elif kind == "datalink":
        ids = ["ivo://example.org/data?sample-1", "ivo://example.org/data?nothing"]
        query = "&".join("ID=" + urllib.parse.quote(i, safe="") for i in ids)
        results = pyvo.dal.adhoc.DatalinkResults.from_result_url(base + "/links?" + query)
        out = {
            "rows": len(results),
            # Read by column (`bysemantics` reads the semantics vocabulary from the network).
            "this": [str(r["access_url"]) for r in results if r["semantics"] == "#this" and r["access_url"]],
            "errors": [str(r["error_message"]) for r in results if r["error_message"]],
        }
    elif kind == "tap":
        service = pyvo.dal.TAPService(base)
        sync = service.run_sync("SELECT TOP 2 id, ra AS alpha FROM sample.objects")
        asynchronous = service.run_async("SELECT * FROM sample.objects", maxrec=1)
        failed = service.submit_job("SELECT * FROM elsewhere")
        failed.run().wait(phases=["COMPLETED", "ERROR", "ABORTED"], timeout=30)
        try:
            failed.raise_if_error()
            error = None
        except pyvo.dal.DALQueryError as e:
            error = str(e)
        # RESPONSEFORMAT=fits: a FITS binary table, read by astropy.
        import io
        import requests
        from astropy.io import fits
        answer = requests.get(base + "/sync", params={"LANG": "ADQL", "QUERY": "SELECT id, dec AS delta FROM sample.objects", "RESPONSEFORMAT": "fits"}, timeout=30)
        with fits.open(io.BytesIO(answer.content)) as hdus:
            fits_table = {"content_type": answer.headers["content-type"], "columns": hdus[1].columns.names, "ids": [str(v) for v in hdus[1].data["id"]], "delta": [float(v) for v in hdus[1].data["delta"]], "unit": hdus[1].columns["delta"].unit}
        # A table uploaded inline (UPLOAD=t1,param:t1 and the file part t1), sync and async.
        from astropy.table import Table
        table = Table({"name": ["A", "B", "C"], "flux": [1.5, 2.5, 3.5]})
        echoed = service.run_sync("SELECT * FROM TAP_UPLOAD.t1", uploads={"t1": table})
        # A table of some megabytes: its file part is written to a temporary file as it arrives.
        big = Table({"n": list(range(200000))})
        echoed_big = service.run_sync("SELECT * FROM TAP_UPLOAD.big", uploads={"big": big})
        upload_job = service.submit_job("SELECT * FROM TAP_UPLOAD.mine", uploads={"mine": table})
        upload_job.run().wait(timeout=30)
        upload_job.raise_if_error()
        echoed_async = upload_job.fetch_result()
        upload_job.delete()
        out = {
            "fits": fits_table,
            "uploaded_sync": [str(r["name"]) for r in echoed],
            "uploaded_big": [len(echoed_big), int(echoed_big.to_table()["n"].sum())],
            "uploaded_async": [float(r["flux"]) for r in echoed_async],
            "rows": len(sync),
            "sync_columns": [f.name for f in sync.fielddescs],
            "sync_ids": [str(r["id"]) for r in sync],
            "async_ids": [str(r["id"]) for r in asynchronous],
            "async_overflow": asynchronous.query_status == "OVERFLOW",
            "failed_phase": failed.phase,
            "failed_error": error,
            "tables": sorted(service.tables.keys()),
            "languages": [language.name for language in service.capabilities[0].languages] if hasattr(service.capabilities[0], "languages") else [],
        }
    else:
        raise SystemExit("unknown service " + kind)
    print(json.dumps(out))


main()
