//! The SODA server behind a real reverse proxy (Debian's nginx, installed by `cargo xtask ci`): the
//! URLs it publishes (VOSI capabilities, DataLink access URLs and service descriptors, UWS
//! `Location`s) name the proxy's scheme, host and path prefix, pyvo follows them through the proxy,
//! and forwarding headers from a peer that is not a trusted proxy are ignored.

use ivoagen_e2e::{Response, Server, built, http, python, root};
use soda_cutout_server::service::sample;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A fresh directory under `target/e2e/proxy`.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = root().join("target/e2e/proxy").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("target/e2e/proxy can be created");
    dir
}

/// The SODA server on a free port with the sample data, and `args`.
fn soda(name: &str, args: &[&str]) -> Server {
    let data = fresh_dir(&format!("{name}-data"));
    sample::ensure(&data).expect("the samples can be written");
    let mut all = vec!["--data-dir", data.to_str().expect("a UTF-8 path")];
    all.extend_from_slice(args);
    Server::start(&built("soda-cutout-server"), &all)
}

/// The nginx binary; the test fails (never skips) without it.
fn nginx_binary() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
        .expect("nginx is missing: `cargo xtask ci` installs it (Debian package nginx)")
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}

/// nginx in the foreground, one process (`master_process off`), every file it writes in its own
/// directory; killed by its PID when dropped.
struct Nginx {
    child: Child,
    addr: String,
    dir: PathBuf,
}

impl Nginx {
    /// Starts nginx on a free port of 127.0.0.1 with `locations` (nginx `location` blocks) in its
    /// one server, and waits until it accepts connections.
    fn start(name: &str, locations: &str) -> Nginx {
        let dir = fresh_dir(&format!("{name}-nginx"));
        let port = free_port();
        let d = dir.display();
        let config = format!(
            "daemon off;\nmaster_process off;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\nevents {{ worker_connections 64; }}\n\
             http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/client_body;\n  proxy_temp_path {d}/proxy;\n  \
             fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n  proxy_max_temp_file_size 0;\n  \
             server {{\n    listen 127.0.0.1:{port};\n{locations}\n  }}\n}}\n"
        );
        let conf = dir.join("nginx.conf");
        std::fs::write(&conf, config).expect("nginx.conf can be written");
        let mut child = Command::new(nginx_binary())
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx starts");
        let addr = format!("127.0.0.1:{port}");
        let began = Instant::now();
        while std::net::TcpStream::connect(&addr).is_err() {
            if let Ok(Some(status)) = child.try_wait() {
                panic!("nginx exited ({status}):\n{}", std::fs::read_to_string(dir.join("error.log")).unwrap_or_default());
            }
            assert!(began.elapsed() < Duration::from_secs(10), "nginx does not listen on {addr}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Nginx { child, addr, dir }
    }

    fn get(&self, target: &str) -> Response {
        http(&self.addr, "GET", target, &[], b"")
    }

    /// nginx's access log once it holds a line containing each of `wanted` (it writes a line after
    /// the response, so it may lag the client by a moment), or after 5 s.
    fn access_log(&self, wanted: &[&str]) -> String {
        let began = Instant::now();
        loop {
            let log = std::fs::read_to_string(self.dir.join("access.log")).unwrap_or_default();
            if wanted.iter().all(|w| log.contains(w)) || began.elapsed() > Duration::from_secs(5) {
                return log;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `location` mounting the server at `upstream` under `prefix/`, with extra `proxy_set_header`s.
fn location(prefix: &str, upstream: &str, headers: &[(&str, &str)]) -> String {
    let mut block = format!("    location {prefix}/ {{\n      proxy_pass http://{upstream}/;\n");
    for (name, value) in headers {
        block.push_str(&format!("      proxy_set_header {name} {value};\n"));
    }
    block.push_str("    }\n");
    block
}

fn ok(response: &Response) -> String {
    assert_eq!(response.status, 200, "{}", response.text());
    response.text()
}

#[test]
fn published_urls_name_the_proxy_scheme_host_and_prefix() {
    let server = soda("urls", &[]);
    let locations = [
        location("/svc/cutouts", &server.addr, &[("Host", "$http_host"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Prefix", "/svc/cutouts")]),
        // RFC 7239: the host comes from Forwarded alone (Host names the upstream).
        location(
            "/rfc",
            &server.addr,
            &[("Host", "internal.invalid"), ("Forwarded", "\"for=$remote_addr;Proto=HTTPS;host=\\\"archive.example.org:8443\\\"\""), ("X-Forwarded-Prefix", "/rfc")],
        ),
    ]
    .concat();
    let nginx = Nginx::start("urls", &locations);
    let public = format!("https://{}/svc/cutouts/soda", nginx.addr);

    let capabilities = ok(&nginx.get("/svc/cutouts/soda/capabilities"));
    assert!(capabilities.contains(&format!("<accessURL use=\"full\">{public}/sync</accessURL>")), "{capabilities}");
    assert!(capabilities.contains(&format!("<accessURL use=\"full\">{public}/async</accessURL>")), "{capabilities}");
    assert!(!capabilities.contains(&server.addr), "the upstream address leaks: {capabilities}");

    let links = ok(&nginx.get("/svc/cutouts/soda/links?ID=sample-image"));
    assert!(links.contains(&format!("<TD>{public}/sync?ID=sample-image</TD>")), "{links}");
    assert!(links.contains(&format!("name=\"accessURL\" datatype=\"char\" arraysize=\"*\" value=\"{public}/sync\"")), "{links}");

    // UWS: the job's Location, and its results, are under the prefix too.
    let created = http(&nginx.addr, "POST", "/svc/cutouts/soda/async", &[("Content-Type", "application/x-www-form-urlencoded")], b"ID=sample-image&CIRCLE=10.70+41.26+0.02");
    assert_eq!(created.status, 303, "{}", created.text());
    let job = created.header("location").expect("a Location").to_owned();
    assert!(job.starts_with(&format!("{public}/async/")), "{job}");

    // The Forwarded header: scheme, host and port from it, the prefix from X-Forwarded-Prefix.
    let capabilities = ok(&nginx.get("/rfc/soda/capabilities"));
    assert!(capabilities.contains("<accessURL use=\"full\">https://archive.example.org:8443/rfc/soda/sync</accessURL>"), "{capabilities}");
    assert!(!capabilities.contains("internal.invalid"), "{capabilities}");

    // Everything above went through nginx.
    let requests = ["GET /svc/cutouts/soda/capabilities", "GET /svc/cutouts/soda/links?ID=sample-image", "POST /svc/cutouts/soda/async", "GET /rfc/soda/capabilities"];
    let log = nginx.access_log(&requests);
    for request in requests {
        assert!(log.contains(request), "`{request}` is not in nginx's access log:\n{log}");
    }
}

#[test]
fn pyvo_follows_the_service_descriptor_through_the_proxy() {
    let server = soda("pyvo", &[]);
    let nginx = Nginx::start(
        "pyvo",
        &location("/pub/cutouts", &server.addr, &[("Host", "$http_host"), ("X-Forwarded-Proto", "$scheme"), ("X-Forwarded-Prefix", "/pub/cutouts")]),
    );
    let base = format!("http://{}/pub/cutouts/soda", nginx.addr);
    let out = Command::new(python()).arg(root().join("tests/pyvo/proxy_datalink.py")).arg(&base).output().expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pyvo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for check in ["#this under the proxy", "descriptor accessURL under the proxy", "processed() through the proxy gives a cutout"] {
        assert!(stdout.contains(check), "`{check}` missing from:\n{stdout}");
    }
    // The cutout itself came through nginx, from the descriptor's access URL.
    let log = nginx.access_log(&["/pub/cutouts/soda/sync?"]);
    assert!(log.lines().any(|l| l.contains("/pub/cutouts/soda/sync?") && l.contains("CIRCLE") && l.contains("\" 200 ")), "no cutout through nginx:\n{log}");
}

#[test]
fn forwarding_headers_from_untrusted_peers_are_ignored() {
    let spoof = [("X-Forwarded-Proto", "javascript"), ("X-Forwarded-Host", "evil.example"), ("X-Forwarded-Prefix", "/phish")];

    // Only 10.0.0.1 is trusted: the test client, on loopback, is not.
    let server = soda("untrusted", &["--trusted-proxy", "10.0.0.1"]);
    let direct = format!("http://{}/soda", server.addr);
    let capabilities = ok(&http(&server.addr, "GET", "/soda/capabilities", &spoof, b""));
    assert!(capabilities.contains(&format!("<accessURL use=\"full\">{direct}/sync</accessURL>")), "{capabilities}");
    let with_forwarded = [("Forwarded", "for=10.0.0.1;proto=https;host=evil.example")];
    let links = ok(&http(&server.addr, "GET", "/soda/links?ID=sample-image", &with_forwarded, b""));
    assert!(links.contains(&format!("<TD>{direct}/sync?ID=sample-image</TD>")), "{links}");
    for text in [&capabilities, &links] {
        assert!(!text.contains("evil.example") && !text.contains("javascript") && !text.contains("phish") && !text.contains("https:"), "{text}");
    }

    // Through nginx, which is not trusted either: its headers count for nothing, Host is what it sends.
    let nginx = Nginx::start("untrusted", &location("/svc", &server.addr, &[("Host", "$http_host"), ("X-Forwarded-Proto", "https"), ("X-Forwarded-Prefix", "/svc")]));
    let capabilities = ok(&nginx.get("/svc/soda/capabilities"));
    assert!(capabilities.contains(&format!("<accessURL use=\"full\">http://{}/soda/sync</accessURL>", nginx.addr)), "{capabilities}");

    // Loopback trusted (the default), but invalid values are refused, not echoed.
    let server = soda("invalid", &[]);
    let bad = [("X-Forwarded-Proto", "javascript"), ("X-Forwarded-Host", "evil.example/x"), ("X-Forwarded-Prefix", "/a/../b")];
    let capabilities = ok(&http(&server.addr, "GET", "/soda/capabilities", &bad, b""));
    assert!(capabilities.contains(&format!("<accessURL use=\"full\">http://{}/soda/sync</accessURL>", server.addr)), "{capabilities}");
    assert!(!capabilities.contains("javascript") && !capabilities.contains("evil") && !capabilities.contains(".."), "{capabilities}");
    // Valid values from a trusted peer are used.
    let good = [("X-Forwarded-Proto", "https"), ("X-Forwarded-Host", "[2001:db8::7]:8443"), ("X-Forwarded-Prefix", "/a/b/")];
    let capabilities = ok(&http(&server.addr, "GET", "/soda/capabilities", &good, b""));
    assert!(capabilities.contains("<accessURL use=\"full\">https://[2001:db8::7]:8443/a/b/soda/sync</accessURL>"), "{capabilities}");
}

/// Runs `binary` with `args` and `env`, returning (exit code, stdout, stderr).
fn run(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = Command::new(binary).args(args).envs(env.iter().copied()).output().expect("the server runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_command_line_follows_clap_conventions() {
    let soda = built("soda-cutout-server");
    let (code, stdout, stderr) = run(&soda, &["--help"], &[]);
    assert_eq!((code, stderr.as_str()), (0, ""), "{stdout}");
    assert!(stdout.starts_with("SODA cutout service\n") && stdout.contains("Usage: soda-cutout-server [OPTIONS]"), "{stdout}");
    for shown in ["[default: /soda]", "[env: BASE_PATH]", "--job-store", "--auth-tokens", "--client-cert-header", "--oidc-issuer <URL>", "[env: OIDC_ISSUERS, comma-separated]", "--oidc-refetch-interval", "--refuse-sync-get", "--no-docs", "--trusted-proxy", "PORT"] {
        assert!(stdout.contains(shown), "`{shown}` missing:\n{stdout}");
    }
    let (code, stdout, _) = run(&soda, &["-V"], &[]);
    assert_eq!((code, stdout.as_str()), (0, "soda-cutout-server 0.1.0\n"));
    let (code, stdout, stderr) = run(&soda, &["--frobnicate"], &[]);
    assert_eq!((code, stdout.as_str()), (2, ""));
    assert!(stderr.contains("unexpected argument '--frobnicate'") && stderr.contains("Usage: soda-cutout-server [OPTIONS]"), "{stderr}");
    let (code, _, stderr) = run(&soda, &[], &[("BIND", "nowhere")]);
    assert!(code == 2 && stderr.contains("BIND: `nowhere` is not an ADDRESS:PORT"), "{code} {stderr}");

    // A service without UWS, security or DALI-sync operations offers none of their flags.
    let archive = built("golden-archive");
    let (code, stdout, _) = run(&archive, &["--help"], &[]);
    assert_eq!(code, 0);
    assert!(stdout.contains("[default: /]"), "{stdout}");
    for flag in ["--job-store", "--auth-tokens", "--client-cert-header", "--oidc-issuer", "--oidc-audience", "--refuse-sync-get"] {
        assert!(!stdout.contains(flag), "{flag} offered:\n{stdout}");
        let (code, _, stderr) = run(&archive, &[flag, "x"], &[]);
        assert!(code == 2 && stderr.contains(&format!("unexpected argument '{flag}'")), "{flag}: {code} {stderr}");
    }

    // PORT, as container platforms set it: every interface.
    let data = fresh_dir("port-data");
    let mut child = Command::new(&soda)
        .args(["--data-dir", data.to_str().expect("a UTF-8 path")])
        .env("PORT", "0")
        .env_remove("BIND")
        .stderr(Stdio::piped())
        .spawn()
        .expect("the server starts");
    // The line saying where it listens (others, such as what it swept at start, may come first).
    let lines = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().expect("piped")));
    let line = lines.map_while(Result::ok).take(5).find(|l| l.contains("listening on")).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(line.contains("listening on http://0.0.0.0:") && line.trim_end().ends_with("/soda/"), "{line}");
}
