"""A newcomer's browser on a generated server: the landing page, the Swagger UI docs, "Try it out".

Usage: docs.py BASE_URL   (e.g. http://127.0.0.1:PORT/svc/soda)

Runs every check twice: on the server directly, and through a reverse proxy (started here) that
mounts it under `/outer`, which the server does not know: redirects, links and "Try it out" must
all be relative to where the page was loaded from.

Drives Debian's chromium through /usr/bin/chromedriver (given explicitly, so that Selenium Manager
downloads nothing), headless, with a new empty profile. Prints one `ok: …` line per check; any
failure raises, with what the page showed.
"""

import http.client
import http.server
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from urllib.parse import urlsplit

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
TIMEOUT = 60


def check(condition, message, driver=None):
    if not condition:
        page = ""
        if driver is not None:
            page = "\n--- page at " + driver.current_url + " ---\n" + driver.find_element(By.TAG_NAME, "body").text[:4000]
        raise AssertionError(message + page)


def wait(driver, what, condition):
    try:
        return WebDriverWait(driver, TIMEOUT, poll_frequency=0.2).until(lambda d: condition(d))
    except TimeoutException:
        check(False, "timed out waiting for " + what, driver)


def browser(profile):
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage", "--user-data-dir=" + profile, "--window-size=1280,2000",
    ]:
        options.add_argument(flag)
    # Every request the browser makes, including those a policy blocks, for the offline check.
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))


def clear(field):
    # Through the keyboard, so that React sees the change (WebElement.clear() bypasses it).
    field.send_keys(Keys.CONTROL, "a")
    field.send_keys(Keys.BACKSPACE)


def requested_urls(driver):
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def main():
    base = sys.argv[1].rstrip("/")
    target = urlsplit(base)
    proxy = prefix_proxy(target.hostname, target.port, PREFIX)
    profile = tempfile.mkdtemp(prefix="ivoagen-chromium-")
    driver = browser(profile)
    try:
        print("== direct: " + base)
        run(driver, base, "{0.scheme}://{0.netloc}".format(target))
        # The same, through a proxy that mounts the server under a prefix the server knows nothing of.
        proxy_origin = "http://127.0.0.1:%d" % proxy.server_address[1]
        print("== through a proxy: " + proxy_origin + PREFIX + target.path)
        run(driver, proxy_origin + PREFIX + target.path, proxy_origin)
    finally:
        driver.quit()
        proxy.shutdown()
        shutil.rmtree(profile, ignore_errors=True)


PREFIX = "/outer"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def prefix_proxy(host, port, prefix):
    """A reverse proxy on a free local port: `PREFIX/rest` is forwarded to `host:port/rest`, the
    answer (redirects and compressed bodies included) passed back as it is; Location headers are
    not rewritten, so only relative ones survive."""

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def forward(self):
            if not (self.path == prefix or self.path.startswith(prefix + "/") or self.path.startswith(prefix + "?")):
                self.send_error(404, "not under " + prefix)
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "host"}
            upstream = http.client.HTTPConnection(host, port, timeout=60)
            upstream.request(self.command, self.path[len(prefix):] or "/", body=body, headers=headers)
            answer = upstream.getresponse()
            data = answer.read()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP and name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)
            upstream.close()

        do_GET = do_POST = do_HEAD = do_DELETE = do_PUT = forward

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run(driver, base, origin):
    # (a) The landing page: `{base}` redirects to `{base}/`, which names the service and links on.
    driver.get(base)
    wait(driver, "the landing page", lambda d: d.current_url == base + "/" and d.find_elements(By.ID, "docs-link"))
    title = driver.find_element(By.TAG_NAME, "h1").text
    check("SODA cutout service" in title, "landing page title: " + title, driver)
    check("SODA cutout service" in driver.title, "landing <title>: " + driver.title, driver)
    rows = [r.text for r in driver.find_elements(By.CSS_SELECTOR, "tbody tr")]
    check(any(r.startswith("GET /sync") for r in rows), "no GET /sync in the endpoint list: %r" % rows, driver)
    openapi = driver.find_element(By.ID, "openapi-link").get_attribute("href")
    check(openapi == base + "/openapi.json", "openapi.json link: " + openapi, driver)
    print("ok: landing page %r, %d endpoints, openapi.json link" % (title, len(rows)))

    driver.find_element(By.ID, "docs-link").click()
    wait(driver, "the docs page", lambda d: d.current_url == base + "/docs")
    print("ok: the docs link leads to " + driver.current_url)

    # (b) Swagger UI renders the description and lists the operations.
    wait(driver, "Swagger UI's operations", lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock .opblock-summary-path"))
    paths = {(e.get_attribute("data-path") or e.text) for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path")}
    check("/sync" in paths and "/async/{jobId}" in paths, "operations listed: %r" % sorted(paths), driver)
    heading = driver.find_element(By.CSS_SELECTOR, ".info .title").text
    check("SODA cutout service" in heading, "Swagger UI title: " + heading, driver)
    servers = [o.get_attribute("value") for o in driver.find_elements(By.CSS_SELECTOR, ".servers select option")]
    check(servers == [base], "the servers offered are %r, not this server %r" % (servers, base), driver)
    print("ok: Swagger UI lists %d paths, server %s" % (len(paths), servers[0]))

    # (c) "Try it out" on GET /sync: a sample image and a circle, executed against this server.
    block = next(
        b for b in driver.find_elements(By.CSS_SELECTOR, ".opblock.opblock-get")
        if b.find_element(By.CSS_SELECTOR, ".opblock-summary-path").get_attribute("data-path") == "/sync"
    )
    block.find_element(By.CSS_SELECTOR, ".opblock-summary-control").click()
    try_out = wait(driver, "the Try it out button", lambda d: block.find_elements(By.CSS_SELECTOR, "button.try-out__btn"))
    try_out[0].click()
    wanted = {"ID": "sample-image", "CIRCLE": "10.68 41.27 0.02"}
    rows = wait(driver, "the parameters", lambda d: block.find_elements(By.CSS_SELECTOR, "tr[data-param-name]"))
    # Swagger UI fills every parameter from its example; a sync cutout takes one filter, so empty
    # them all (array items removed, text cleared), then give ID and CIRCLE one value each.
    for row in rows:
        while True:
            remove = row.find_elements(By.CSS_SELECTOR, "button.json-schema-form-item-remove")
            if not remove:
                break
            remove[0].click()
        for field in row.find_elements(By.CSS_SELECTOR, "input[type=text]"):
            clear(field)
        for menu in row.find_elements(By.CSS_SELECTOR, "select[multiple]"):
            Select(menu).deselect_all()
    for name, value in wanted.items():
        row = block.find_element(By.CSS_SELECTOR, 'tr[data-param-name="%s"]' % name)
        if not row.find_elements(By.CSS_SELECTOR, "input[type=text]"):
            row.find_element(By.CSS_SELECTOR, "button.json-schema-form-item-add").click()
        field = wait(driver, "an input for " + name, lambda d: row.find_elements(By.CSS_SELECTOR, "input[type=text]"))[0]
        clear(field)  # a new item starts with a sample value
        field.send_keys(value)
    block.find_element(By.CSS_SELECTOR, "button.execute").click()
    status = wait(driver, "a live response", lambda d: block.find_elements(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_status"))
    code = status[0].text.strip()
    text = block.find_element(By.CSS_SELECTOR, ".live-responses-table").text
    check("Failed to fetch" not in text, "no HTTP response reached the page:\n" + text, driver)
    check(code == "200", "GET /sync answered %r, not 200:\n%s" % (code, text), driver)
    url = block.find_element(By.CSS_SELECTOR, ".request-url pre").text
    check(url == base + "/sync?ID=sample-image&CIRCLE=10.68%2041.27%200.02", "request URL: " + url, driver)
    headers = block.find_element(By.CSS_SELECTOR, ".live-responses-table tbody .response-col_description").text
    check("application/fits" in headers, "response headers lack the FITS type:\n" + headers, driver)
    print("ok: Try it out: %s -> %s application/fits" % (url, code))

    # Nothing left the machine: every request the browser made, and every resource the page
    # loaded, went to this server.
    resources = driver.execute_script("return performance.getEntriesByType('resource').map(function (e) { return e.name; })")
    check(resources, "the page loaded no resources?", driver)
    foreign = [u for u in resources if not u.startswith(origin + "/")]
    check(not foreign, "resources from elsewhere: %r" % foreign, driver)
    requested = requested_urls(driver)
    check(any(u.endswith("/docs/swagger-ui-bundle.js?v=5.35.0") for u in requested), "the bundle request was not seen: %r" % requested)
    # Browser-internal pages (chrome://, the empty tab before the first page) and data: URLs never
    # reach a network; anything else must go to this server.
    network = [u for u in requested if urlsplit(u).scheme not in ("chrome", "data", "about", "blob")]
    foreign = [u for u in network if not u.startswith(origin + "/")]
    check(not foreign, "requests to elsewhere: %r" % foreign)
    errors = [e["message"] for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    check(not errors, "console errors: %r" % errors)
    print("ok: %d resources, %d network requests, all to %s; no console errors" % (len(resources), len(network), origin))


if __name__ == "__main__":
    started = time.time()
    main()
    print("ok: done in %.1f s" % (time.time() - started))
