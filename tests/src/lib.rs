//! Helpers for the end-to-end tests: paths, a shared build directory for generated crates, a
//! server process stopped by its own PID, and a minimal HTTP/1.1 client over a real socket.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The repository root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is in the repository").to_path_buf()
}

/// Where end-to-end tests put what they generate and build. One target directory is shared by
/// every generated crate, so dependencies compile once; it is separate from the workspace's, whose
/// lock the running `cargo test` holds.
pub fn work_dir() -> PathBuf {
    root().join("target/e2e")
}

/// The shared target directory of generated crates.
pub fn target_dir() -> PathBuf {
    work_dir().join("target")
}

/// `cargo` with the shared target directory, and nothing of this test's own build environment.
///
/// Without debug information and incremental state: a generated crate's manifest has no profile of
/// its own, and with cargo's defaults each of the few dozen test binaries the suite builds takes
/// over 100 MB, which filled the disk of a CI machine.
pub fn cargo(dir: &Path) -> Command {
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    cmd.current_dir(dir)
        .env("CARGO_TARGET_DIR", target_dir())
        .env("CARGO_PROFILE_DEV_DEBUG", "false")
        .env("CARGO_INCREMENTAL", "0")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_MANIFEST_DIR");
    cmd
}

/// `ivoagen`, installed as the README says (`cargo install --locked`) into `work_dir()/name`.
/// `--debug` only to share the test build's compiled dependencies.
pub fn install_ivoagen(name: &str) -> PathBuf {
    let install_root = work_dir().join(name);
    let _ = std::fs::remove_dir_all(&install_root);
    let out = cargo(&root()).args(["install", "--locked", "--debug", "--quiet", "--path", "generator", "--root"]).arg(&install_root).output().expect("cargo runs");
    assert!(out.status.success(), "cargo install failed:\n{}", String::from_utf8_lossy(&out.stderr));
    install_root.join("bin/ivoagen")
}

/// The Python of the test venv (pyvo, astropy, Selenium, schemathesis), which `cargo xtask ci` creates.
pub fn python() -> PathBuf {
    let python = root().join("target/venv/bin/python");
    assert!(python.exists(), "{} is missing: run `cargo xtask ci`, which creates the venv", python.display());
    python
}

/// The debug binary of workspace package `package`, built (into the shared target directory) the
/// first time a test asks for it.
pub fn built(package: &str) -> PathBuf {
    static BUILT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if !built.iter().any(|p| p == package) {
        let out = cargo(&root()).args(["build", "--quiet", "-p", package]).output().expect("cargo runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        built.push(package.to_owned());
    }
    target_dir().join("debug").join(package)
}

/// Asserts a SODA error answer: `status`, `text/plain; charset=utf-8`, and a body starting with
/// `LABEL: ` (SODA §5).
pub fn soda_error(response: &Response, status: u16, label: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    assert_eq!(response.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(response.text().starts_with(&format!("{label}: ")), "{}", response.text());
}

/// Validates `document` against the official schema `schema` (from `runtime/tests/xsd/`) with
/// xmllint, writing it to `target/e2e/NAME` first so a failure can be looked at.
pub fn xsd_validate(schema: &str, name: &str, document: &str) {
    let file = work_dir().join(name);
    std::fs::create_dir_all(work_dir()).expect("target/e2e can be created");
    std::fs::write(&file, document).expect("the document can be written");
    let out = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema"])
        .arg(root().join("runtime/tests/xsd").join(schema))
        .arg(&file)
        .output()
        .expect("xmllint is installed (cargo xtask ci installs libxml2-utils)");
    assert!(out.status.success(), "{name} does not validate against {schema}:\n{}\n{document}", String::from_utf8_lossy(&out.stderr));
}

/// A server process, killed (by its PID) when dropped.
pub struct Server {
    child: Child,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// Every line the server wrote to stderr so far.
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Server {
    /// Starts `binary` with `args` plus `--bind 127.0.0.1:0` and waits for its "listening on" line.
    pub fn start(binary: &Path, args: &[&str]) -> Server {
        Self::start_with_env(binary, args, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_env(binary: &Path, args: &[&str], env: &[(&str, &str)]) -> Server {
        let mut child = Command::new(binary)
            .args(args)
            .envs(env.iter().copied())
            .args(["--bind", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = BufReader::new(stderr).lines();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = |log: &std::sync::Mutex<Vec<String>>, line: &str| log.lock().unwrap_or_else(|e| e.into_inner()).push(line.to_owned());
        let addr = loop {
            let Some(Ok(line)) = lines.next() else {
                let _ = child.kill();
                panic!("{} exited before listening", binary.display());
            };
            keep(&log, &line);
            if let Some(rest) = line.split("listening on http://").nth(1) {
                break rest.split('/').next().unwrap_or_default().to_owned();
            }
        };
        // Keep draining stderr so the server never blocks on a full pipe.
        let kept = log.clone();
        std::thread::spawn(move || lines.map_while(Result::ok).for_each(|line| keep(&kept, &line)));
        Server { child, addr, log }
    }

    /// The lines the server wrote to stderr so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Where the server said its operations endpoints listen (`--metrics-addr`): `ADDR:PORT`.
    pub fn metrics_addr(&self) -> String {
        let log = self.log();
        let line = log.iter().find(|l| l.contains("metrics on http://")).unwrap_or_else(|| panic!("no `metrics on` line in {log:?}"));
        line.split("metrics on http://").nth(1).and_then(|rest| rest.split('/').next()).unwrap_or_default().to_owned()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the process with SIGKILL (`kill -9`): no chance to clean up.
    pub fn kill_9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response: status, headers (names lower-cased), body.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Response {
    /// The first header called `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends one HTTP/1.1 request (`Connection: close`) and reads the whole response.
pub fn http(addr: &str, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    stream.write_all(body).expect("write");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read");
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().and_then(|l| l.split(' ').nth(1)).and_then(|s| s.parse().ok()).expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Response { status, headers, body }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = data.windows(2).position(|w| w == b"\r\n") else { return out };
        let size = usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
}

/// One sample of a Prometheus text exposition, as `tests/prometheus/samples.py` prints it.
#[derive(Debug)]
pub struct Sample {
    /// Its family's name.
    pub family: String,
    /// Its family's type (`counter`, `gauge`, `histogram`…).
    pub kind: String,
    /// The sample's own name (`…_total`, `…_bucket`…).
    pub name: String,
    /// Its labels.
    pub labels: std::collections::BTreeMap<String, String>,
    /// Its value.
    pub value: f64,
}

/// `text` read by the Prometheus project's own parser (`prometheus_client.parser`, through
/// `tests/prometheus/samples.py`), which refuses a malformed exposition.
pub fn prometheus_samples(text: &str) -> Vec<Sample> {
    use ivoagen_runtime::codegen::serde_json;
    let mut child = Command::new(python()).arg(root().join("tests/prometheus/samples.py")).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("python runs");
    child.stdin.take().expect("stdin is piped").write_all(text.as_bytes()).expect("the exposition is written");
    let out = child.wait_with_output().expect("the parser ends");
    assert!(out.status.success(), "the Prometheus parser refused the exposition:\n{}\n{text}", String::from_utf8_lossy(&out.stderr));
    let samples: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).expect("the parser prints JSON");
    samples
        .into_iter()
        .map(|s| Sample {
            family: s["family"].as_str().unwrap_or_default().to_owned(),
            kind: s["type"].as_str().unwrap_or_default().to_owned(),
            name: s["name"].as_str().unwrap_or_default().to_owned(),
            labels: serde_json::from_value(s["labels"].clone()).expect("labels are strings"),
            value: s["value"].as_f64().unwrap_or_else(|| panic!("not a finite value: {s}")),
        })
        .collect()
}

/// A PostgreSQL server of the tests' own: a cluster made with `initdb` in a fresh directory
/// under `target/e2e/postgres/NAME`, listening on 127.0.0.1 at a free port, trusting local
/// connections, and stopped with `pg_ctl` (by the PID of its postmaster) when dropped. Run as
/// the `postgres` user when the tests run as root, as PostgreSQL refuses root.
pub struct Postgres {
    dir: PathBuf,
    /// The port it listens on.
    pub port: u16,
    bin: PathBuf,
    user: Option<&'static str>,
}

impl Postgres {
    /// Makes and starts the cluster `name` (replacing one of that name).
    pub fn start(name: &str) -> Postgres {
        Postgres::start_with(name, false)
    }

    /// Makes and starts the cluster `name` accepting TCP connections over TLS only, with a
    /// certificate for `localhost` (not for 127.0.0.1) signed by the root in
    /// [`Postgres::tls_file`]`("ca.pem")`; `other-ca.pem` is a root that signed nothing of it.
    /// Its database `certdb` takes only clients presenting a certificate of that root for their
    /// user: `client.pem` (key `client.key`) is one for `postgres`.
    pub fn start_tls(name: &str) -> Postgres {
        Postgres::start_with(name, true)
    }

    /// The folder of its Unix socket.
    pub fn socket_dir(&self) -> &Path {
        &self.dir
    }

    /// A file of the TLS cluster's certificates: `ca.pem`, `other-ca.pem`, `client.pem`,
    /// `client.key`.
    pub fn tls_file(&self, name: &str) -> PathBuf {
        self.dir.join("tls").join(name)
    }

    fn start_with(name: &str, tls: bool) -> Postgres {
        let bin = postgres_bin();
        let dir = work_dir().join("postgres").join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the cluster's folder");
        if tls {
            make_certificates(&dir.join("tls"));
        }
        let user = is_root().then_some("postgres");
        if let Some(user) = user {
            let status = Command::new("chown").args(["-R", user]).arg(&dir).status().expect("chown runs");
            assert!(status.success(), "chown {user} {}", dir.display());
            // The postgres user must reach the folder: every parent up from it may be private.
            let mut parent = dir.parent();
            while let Some(p) = parent {
                let _ = Command::new("chmod").arg("o+x").arg(p).status();
                parent = p.parent();
            }
        }
        let postgres = Postgres { port: free_port(), dir, bin, user };
        let data = postgres.dir.join("data");
        let out = postgres.command("initdb").arg("-D").arg(&data).args(["-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8"]).output().expect("initdb runs");
        assert!(out.status.success(), "initdb: {}", String::from_utf8_lossy(&out.stderr));
        if tls {
            let certificates = postgres.dir.join("tls");
            let mut conf = std::fs::OpenOptions::new().append(true).open(data.join("postgresql.conf")).expect("postgresql.conf");
            let settings = format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\nssl_ca_file = '{}'\n",
                certificates.join("server.pem").display(),
                certificates.join("server.key").display(),
                certificates.join("ca.pem").display()
            );
            conf.write_all(settings.as_bytes()).expect("postgresql.conf");
            let hba = "local all all trust\nhostssl certdb all 127.0.0.1/32 cert\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 127.0.0.1/32 reject\n";
            std::fs::write(data.join("pg_hba.conf"), hba).expect("pg_hba.conf");
        }
        postgres.run();
        if tls {
            postgres.psql("CREATE DATABASE certdb");
        }
        postgres
    }

    fn command(&self, tool: &str) -> Command {
        let path = self.bin.join(tool);
        match self.user {
            Some(user) => {
                let mut cmd = Command::new("runuser");
                cmd.args(["-u", user, "--"]).arg(path);
                cmd
            }
            None => Command::new(path),
        }
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn run(&self) {
        let options = format!("-p {} -c listen_addresses=127.0.0.1 -k {} -c max_connections=200 -c fsync=on", self.port, self.dir.display());
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.dir.join("data"))
            .arg("-l")
            .arg(self.dir.join("log"))
            .args(["-o", &options, "-w", "-t", "60", "start"])
            .stdout(Stdio::null())
            .output()
            .expect("pg_ctl runs");
        assert!(out.status.success(), "pg_ctl start: {}\n{}", String::from_utf8_lossy(&out.stderr), std::fs::read_to_string(self.dir.join("log")).unwrap_or_default());
    }

    /// Stops the server (fast shutdown: connections are closed at once).
    pub fn stop(&self) {
        let _ = self.command("pg_ctl").arg("-D").arg(self.dir.join("data")).args(["-m", "fast", "-w", "stop"]).stdout(Stdio::null()).stderr(Stdio::null()).status();
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Runs `sql` with `psql` in the `postgres` database, returning its unaligned output.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in("postgres", sql)
    }

    /// Runs `sql` with `psql` in `database`, returning its unaligned output.
    pub fn psql_in(&self, database: &str, sql: &str) -> String {
        let out = Command::new(self.bin.join("psql"))
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1", "-U", "postgres", "-p", &self.port.to_string(), "-d", database, "-c", sql])
            .output()
            .expect("psql runs");
        assert!(out.status.success(), "psql {sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The folder of PostgreSQL's programs: `pg_config --bindir`, else Debian's newest
/// `/usr/lib/postgresql/N/bin` (`cargo xtask ci` installs the package).
fn postgres_bin() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if out.status.success() && dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql").map(|d| d.flatten().map(|e| e.path().join("bin")).filter(|p| p.join("initdb").exists()).collect()).unwrap_or_default();
    versions.sort_by_key(|p| p.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0));
    versions.pop().expect("PostgreSQL's programs (initdb, pg_ctl) are installed: run `cargo xtask ci`, which installs them")
}

/// A root (`ca.pem`) and the certificate it signed for `localhost` (`server.pem`, key
/// `server.key`), and another root (`other-ca.pem`), made with `openssl` in `dir`.
fn make_certificates(dir: &Path) {
    std::fs::create_dir_all(dir).expect("the certificates' folder");
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl is installed (cargo xtask ci installs it)");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    for ca in ["ca", "other-ca"] {
        let (key, pem, subject) = (format!("{ca}.key"), format!("{ca}.pem"), format!("/CN=ivoagen test {ca}"));
        let mut args = vec!["req", "-x509", "-days", "2", "-subj", &subject, "-keyout", &key, "-out", &pem];
        args.extend_from_slice(&ec);
        openssl(&args);
    }
    let mut request = vec!["req", "-new", "-subj", "/CN=localhost", "-keyout", "server.key", "-out", "server.csr"];
    request.extend_from_slice(&ec);
    openssl(&request);
    std::fs::write(dir.join("server.ext"), "subjectAltName = DNS:localhost\nbasicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nextendedKeyUsage = serverAuth\n").expect("server.ext");
    openssl(&["x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "server.ext", "-out", "server.pem"]);
    // A client certificate for the user `postgres`.
    let mut request = vec!["req", "-new", "-subj", "/CN=postgres", "-keyout", "client.key", "-out", "client.csr"];
    request.extend_from_slice(&ec);
    openssl(&request);
    std::fs::write(dir.join("client.ext"), "basicConstraints = CA:FALSE\nkeyUsage = digitalSignature\nextendedKeyUsage = clientAuth\n").expect("client.ext");
    openssl(&["x509", "-req", "-in", "client.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-days", "2", "-extfile", "client.ext", "-out", "client.pem"]);
    // PostgreSQL refuses a key that others may read.
    let _ = Command::new("chmod").arg("600").arg(dir.join("server.key")).status();
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A TCP port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("a free port")
}

/// An S3-compatible server of the tests' own: moto in server mode (from the test venv) on a free
/// port of 127.0.0.1, with one bucket made, killed by its PID when dropped.
pub struct S3Server {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
}

impl S3Server {
    /// Starts the server and makes `bucket`.
    pub fn start(bucket: &str) -> S3Server {
        let moto = root().join("target/venv/bin/moto_server");
        assert!(moto.exists(), "{} is missing: run `cargo xtask ci`, which installs moto into the venv", moto.display());
        // The free port may be taken by another test's process before moto binds it: moto then
        // exits, and another port is tried.
        for _ in 0..5 {
            let port = free_port();
            let child = Command::new(&moto).args(["-H", "127.0.0.1", "-p", &port.to_string()]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().expect("moto_server starts");
            let mut server = S3Server { child, endpoint: format!("http://127.0.0.1:{port}") };
            let addr = format!("127.0.0.1:{port}");
            let start = std::time::Instant::now();
            let listening = loop {
                if server.child.try_wait().ok().flatten().is_some() {
                    break false;
                }
                if TcpStream::connect(&addr).is_ok() {
                    // What answered is moto only if moto still runs.
                    break server.child.try_wait().ok().flatten().is_none();
                }
                assert!(start.elapsed() < Duration::from_secs(30), "moto_server did not listen on {addr}");
                std::thread::sleep(Duration::from_millis(100));
            };
            if !listening {
                continue;
            }
            let made = http(&addr, "PUT", &format!("/{bucket}"), &[], b"");
            assert_eq!(made.status, 200, "bucket {bucket}: {}", made.text());
            return server;
        }
        panic!("moto_server could not listen on any of 5 free ports");
    }

    /// The environment a server needs to reach it (endpoint, region, any credentials).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "us-east-1".to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".to_owned()),
            ("AWS_SECRET_ACCESS_KEY", "test".to_owned()),
        ]
    }

    /// The keys of the objects of `bucket` (a path-style, unsigned `ListObjectsV2`).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let r = http(self.endpoint.trim_start_matches("http://"), "GET", &format!("/{bucket}?list-type=2&max-keys=10000"), &[], b"");
        r.text().split("<Key>").skip(1).map(|k| k.split("</Key>").next().unwrap_or_default().to_owned()).collect()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
