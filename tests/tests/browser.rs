//! A newcomer's browser finds the service: the SODA server as a real process under a base path
//! its description does not declare, and Debian's headless chromium (driven by Selenium through
//! `/usr/bin/chromedriver`, `tests/browser/docs.py`) on the landing page, the Swagger UI docs and
//! "Try it out", once on the server and once through a proxy mounting it under a prefix of its
//! own. `cargo xtask ci` installs chromium, chromium-driver and the venv with Selenium.

use ivoagen_e2e::{Server, built, http, python, root};
use soda_cutout_server::service::sample;
use std::path::Path;
use std::process::Command;

/// The base path the server runs under: not the `/soda` of the description's `servers`, so that
/// "Try it out" only reaches the server if the docs page aims it at the page's own location.
const BASE: &str = "/svc/soda";

fn start(name: &str) -> Server {
    let data = root().join("target/e2e/data").join(name);
    let _ = std::fs::remove_dir_all(&data);
    sample::ensure(&data).expect("the sample data can be written");
    Server::start(&built("soda-cutout-server"), &["--data-dir", data.to_str().expect("a UTF-8 path"), "--base-path", BASE])
}

#[test]
fn a_headless_browser_reads_the_landing_page_and_the_docs_and_tries_a_cutout() {
    for (tool, package) in [("/usr/bin/chromium", "chromium"), ("/usr/bin/chromedriver", "chromium-driver")] {
        assert!(Path::new(tool).exists(), "{tool} is missing: `cargo xtask ci` installs the Debian package {package}");
    }
    let server = start("browser");
    let base = format!("http://{}{BASE}", server.addr);
    let out = Command::new(python())
        .arg(root().join("tests/browser/docs.py"))
        .arg(&base)
        // Selenium Manager must not look for (or download) a browser or a driver.
        .env("SE_OFFLINE", "true")
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the browser run failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    // Each pass: the server directly, then through the script's proxy under `/outer`.
    let proxied = stdout
        .lines()
        .find_map(|l| l.strip_prefix("== through a proxy: "))
        .unwrap_or_else(|| panic!("no proxy pass in:\n{stdout}"))
        .to_owned();
    assert!(proxied.starts_with("http://127.0.0.1:") && proxied.ends_with(&format!("/outer{BASE}")), "{proxied}");
    let proxy_origin = proxied.trim_end_matches(&format!("/outer{BASE}")).to_owned();
    for (base, origin) in [(base.clone(), format!("http://{}", server.addr)), (proxied, proxy_origin)] {
        for check in [
            "ok: landing page 'SODA cutout service".to_owned(),
            format!("ok: the docs link leads to {base}/docs"),
            format!("server {base}"),
            format!("ok: Try it out: {base}/sync?ID=sample-image&CIRCLE=10.68%2041.27%200.02 -> 200 application/fits"),
            format!("all to {origin}; no console errors"),
        ] {
            assert!(stdout.contains(&check), "`{check}` missing from:\n{stdout}");
        }
    }
    assert_eq!(stdout.matches("ok: Try it out: ").count(), 2, "{stdout}");
}

#[test]
fn the_pages_and_assets_over_a_real_socket() {
    let server = start("browser-http");
    let get = |target: &str, headers: &[(&str, &str)]| http(&server.addr, "GET", target, headers, b"");

    let landing = get(&format!("{BASE}/"), &[]);
    assert_eq!(landing.status, 200);
    assert_eq!(landing.header("content-type"), Some("text/html; charset=utf-8"));
    for expected in ["<h1>SODA cutout service", "<code>/sync</code>", "<code>/async/{jobId}</code>", "href=\"docs\"", "href=\"openapi.json\""] {
        assert!(landing.text().contains(expected), "{expected} missing:\n{}", landing.text());
    }
    let redirect = get(BASE, &[]);
    assert_eq!(redirect.status, 307);
    assert_eq!(redirect.header("location"), Some("soda/"));

    let docs = get(&format!("{BASE}/docs"), &[]);
    assert_eq!(docs.status, 200);
    assert!(docs.text().contains("<script src=\"docs/swagger-ui-bundle.js?v="), "{}", docs.text());

    let bundle = get(&format!("{BASE}/docs/swagger-ui-bundle.js"), &[("accept-encoding", "gzip, deflate, br")]);
    assert_eq!(bundle.status, 200);
    assert_eq!(bundle.header("content-encoding"), Some("gzip"));
    assert_eq!(bundle.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert_eq!(bundle.header("content-length"), Some(bundle.body.len().to_string().as_str()));
    assert_eq!(&bundle.body[..2], &[0x1f, 0x8b]);
    let refused = get(&format!("{BASE}/docs/swagger-ui.css"), &[("accept-encoding", "identity")]);
    assert_eq!(refused.status, 406);
    assert_eq!(refused.header("vary"), Some("accept-encoding"));

    // The service's own routes are untouched; the root of the origin is not the service's.
    assert_eq!(get(&format!("{BASE}/openapi.json"), &[]).status, 200);
    assert_eq!(get("/", &[]).status, 404);
}
