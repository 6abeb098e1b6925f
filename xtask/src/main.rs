//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does.
//!
//! - `cargo xtask codegen [--check]` regenerates every checked-in generated crate (the example
//!   server and the golden per-feature crates) from its spec, or checks that they are fresh.
//! - `cargo xtask ci` installs what the tests need and runs every test: the command CI runs.
//! - `cargo xtask run [ARGS]` regenerates the example server and runs it.
//! - `cargo xtask bench generate` times `ivoagen generate` on the corpus (not part of CI).
//! - `cargo xtask bench uws` measures durable job creations per second and the server's memory
//!   with 10,000 parked WAIT requests (not part of CI).
//! - `cargo xtask bench params` loads the generated parameter layer and a bare axum handler with
//!   wrk, in the same run, and prints the ratio (not part of CI).
//! - `cargo xtask bench cutout` measures SODA cutouts: HTTP throughput, time per cutout against
//!   CFITSIO, and the server's memory streaming cutouts of a 1 GiB image and of a tile-compressed
//!   image over 1 GB (not part of CI).
//! - `cargo xtask bench auth` loads the sync cutout route anonymous, with one cached OpenID
//!   Connect bearer token and with a new token per request (validated every time), in one run
//!   against the test issuer, and prints the ratios (not part of CI).
//! - `cargo xtask bench fits-crates` builds and runs `xtask/compare-fits` (a project outside the
//!   workspace): the example server's FITS and WCS code against the `fitsrs`, `wcs` and `fitsio`
//!   crates, speed and correctness in one run (not part of CI).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::Duration;

/// A checked-in generated crate: its spec, its directory and its package name.
pub struct Target {
    pub spec: &'static str,
    pub dir: &'static str,
    pub crate_name: &'static str,
}

/// Every generated crate in the repository.
pub const TARGETS: &[Target] = &[
    Target { spec: "specs/soda.yaml", dir: "generated-example", crate_name: "soda-cutout-server" },
    Target { spec: "generator/tests/features/archive.yaml", dir: "generator/tests/golden/archive", crate_name: "golden-archive" },
    Target { spec: "generator/tests/features/params.yaml", dir: "generator/tests/golden/params", crate_name: "golden-params" },
    Target { spec: "generator/tests/features/schemas.yaml", dir: "generator/tests/golden/schemas", crate_name: "golden-schemas" },
    Target { spec: "generator/tests/features/bodies.yaml", dir: "generator/tests/golden/bodies", crate_name: "golden-bodies" },
    Target { spec: "generator/tests/features/refs/openapi.yaml", dir: "generator/tests/golden/refs", crate_name: "golden-refs" },
    Target { spec: "generator/tests/features/auth.yaml", dir: "generator/tests/golden/auth", crate_name: "golden-auth" },
    Target { spec: "generator/tests/features/collisions.yaml", dir: "generator/tests/golden/collisions", crate_name: "golden-collisions" },
    Target { spec: "specs/uws.yaml", dir: "generator/tests/golden/uws", crate_name: "golden-uws" },
    Target { spec: "generator/tests/features/standards.yaml", dir: "generator/tests/golden/standards", crate_name: "golden-standards" },
    Target { spec: "generator/tests/features/groups.yaml", dir: "generator/tests/golden/groups", crate_name: "golden-groups" },
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask is in the workspace").to_path_buf()
}

/// A release binary cargo built: under `CARGO_TARGET_DIR` when it is set (relative to the root, as
/// cargo takes it here), else under `target/`.
fn release(name: &str) -> PathBuf {
    let dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), |d| root().join(d));
    dir.join("release").join(name)
}

/// The path from `dir` (relative to the root) back to the root.
fn up(dir: &str) -> String {
    dir.split('/').map(|_| "..").collect::<Vec<_>>().join("/")
}

/// Generates every target; returns the number of stale targets (check) or an error.
pub fn codegen(check: bool) -> Result<usize, String> {
    let root = root();
    let mut stale = 0;
    for target in TARGETS {
        let options = ivoagen::Options {
            crate_name: target.crate_name.to_owned(),
            runtime: ivoagen::RuntimeDependency::Path(format!("{}/runtime", up(target.dir))),
            command: "cargo xtask codegen".to_owned(),
            ci: false,
        };
        let generated = ivoagen::generate(&ivoagen::load::RealFs, &root.join(target.spec), &options).map_err(|failure| {
            let rendered: String = failure.diagnostics.iter().map(|d| d.render(&failure.sources, false)).collect();
            format!("{}: generation failed\n{rendered}", target.spec)
        })?;
        let dir = root.join(target.dir);
        if check {
            let report = ivoagen::write::check(&dir, &generated.files).map_err(|e| format!("{}: {e}", target.dir))?;
            if !report.is_fresh() {
                stale += 1;
                for (path, diff) in &report.stale {
                    eprintln!("stale: {}/{path}\n{diff}", target.dir);
                }
                for path in &report.missing {
                    eprintln!("missing: {}/{path}", target.dir);
                }
                for path in &report.orphaned {
                    eprintln!("orphaned: {}/{path}", target.dir);
                }
            }
        } else {
            let report = ivoagen::write::write(&dir, &generated.files).map_err(|e| format!("{}: {e}", target.dir))?;
            for path in report.written.iter().chain(&report.created) {
                eprintln!("wrote {}/{path}", target.dir);
            }
            for path in &report.removed {
                eprintln!("removed {}/{path}", target.dir);
            }
        }
    }
    Ok(stale + mirror_specs(&root, check)?)
}

/// Keeps `generator/specs/` a copy of `specs/*.yaml`: the generator's package carries the
/// starting specs of `ivoagen init` from there (a package holds only files inside its folder).
/// Returns the number of stale copies (check) or an error.
fn mirror_specs(root: &Path, check: bool) -> Result<usize, String> {
    let yaml_in = |dir: &Path| -> Result<std::collections::BTreeMap<String, Vec<u8>>, String> {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Default::default()),
            Err(e) => return Err(format!("{}: {e}", dir.display())),
        };
        let mut files = std::collections::BTreeMap::new();
        for entry in entries {
            let path = entry.map_err(|e| format!("{}: {e}", dir.display()))?.path();
            if path.extension().is_some_and(|e| e == "yaml") {
                let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                files.insert(name, std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?);
            }
        }
        Ok(files)
    };
    let (source, copy) = (root.join("specs"), root.join("generator/specs"));
    let (wanted, present) = (yaml_in(&source)?, yaml_in(&copy)?);
    let stale: Vec<&String> = wanted.iter().filter(|(name, bytes)| present.get(*name) != Some(*bytes)).map(|(name, _)| name).collect();
    let orphaned: Vec<&String> = present.keys().filter(|name| !wanted.contains_key(*name)).collect();
    if check {
        for name in &stale {
            eprintln!("stale: generator/specs/{name} (a copy of specs/{name}: run `cargo xtask codegen`)");
        }
        for name in &orphaned {
            eprintln!("orphaned: generator/specs/{name}");
        }
        return Ok(usize::from(!stale.is_empty() || !orphaned.is_empty()));
    }
    std::fs::create_dir_all(&copy).map_err(|e| format!("{}: {e}", copy.display()))?;
    for name in stale {
        std::fs::write(copy.join(name), &wanted[name]).map_err(|e| format!("generator/specs/{name}: {e}"))?;
        eprintln!("wrote generator/specs/{name}");
    }
    for name in orphaned {
        std::fs::remove_file(copy.join(name)).map_err(|e| format!("generator/specs/{name}: {e}"))?;
        eprintln!("removed generator/specs/{name}");
    }
    Ok(0)
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program).args(args).current_dir(root()).status().map_err(|e| format!("{program}: {e}"))?;
    if status.success() { Ok(()) } else { Err(format!("`{program} {}` failed ({status})", args.join(" "))) }
}

/// Whether `program` is on the PATH.
fn has(program: &str) -> bool {
    Command::new("sh").args(["-c", &format!("command -v {program}")]).stdout(std::process::Stdio::null()).status().is_ok_and(|s| s.success())
}

/// Installs the Debian packages providing the tools the tests need, when a tool is missing.
fn ensure_apt(tools: &[(&str, &str)]) -> Result<(), String> {
    let missing: Vec<&str> = tools.iter().filter(|(tool, _)| !has(tool)).map(|(_, package)| *package).collect();
    apt_install(&missing)
}

/// Installs Debian packages (none: nothing to do).
fn apt_install(missing: &[&str]) -> Result<(), String> {
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("installing {}", missing.join(" "));
    let quiet = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("apt-get").args(args).env("DEBIAN_FRONTEND", "noninteractive").output().map_err(|e| format!("apt-get: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("`apt-get {}` failed (run as root, or install {} yourself):\n{}", args.join(" "), missing.join(" "), String::from_utf8_lossy(&out.stderr)))
        }
    };
    quiet(&["update", "-qq"])?;
    let mut install = vec!["install", "-y", "-qq", "--no-install-recommends"];
    install.extend(missing);
    quiet(&install)
}

/// Creates `target/venv` with the Python tools of `tests/requirements.txt`, when it is missing
/// or the requirements changed.
fn ensure_venv() -> Result<(), String> {
    let root = root();
    let venv = root.join("target/venv");
    let requirements = std::fs::read_to_string(root.join("tests/requirements.txt")).map_err(|e| format!("tests/requirements.txt: {e}"))?;
    let stamp = venv.join("requirements.installed");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s == requirements) {
        return Ok(());
    }
    let quiet = |program: &std::path::Path, args: &[&str]| -> Result<(), String> {
        let out = Command::new(program).args(args).current_dir(&root).output().map_err(|e| format!("{}: {e}", program.display()))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!("`{} {}` failed:\n{}", program.display(), args.join(" "), String::from_utf8_lossy(&out.stderr)))
        }
    };
    eprintln!("creating target/venv");
    if !venv.join("bin/pip").exists() {
        ensure_apt(&[("python3", "python3")])?;
        if quiet(std::path::Path::new("python3"), &["-m", "venv", "target/venv"]).is_err() {
            // Debian's python3 needs its venv module installed separately.
            apt_install(&["python3-venv"])?;
            quiet(std::path::Path::new("python3"), &["-m", "venv", "target/venv"])?;
        }
    }
    quiet(&venv.join("bin/pip"), &["install", "--quiet", "--disable-pip-version-check", "-r", "tests/requirements.txt"])?;
    std::fs::write(stamp, requirements).map_err(|e| e.to_string())
}

/// Installs Debian's PostgreSQL server when its programs are missing: the tests make and start
/// clusters of their own with `initdb` and `pg_ctl` (as the `postgres` user the package creates).
fn ensure_postgres() -> Result<(), String> {
    let installed = has("initdb")
        || std::fs::read_dir("/usr/lib/postgresql").is_ok_and(|versions| versions.flatten().any(|v| v.path().join("bin/initdb").exists()));
    if installed { Ok(()) } else { apt_install(&["postgresql"]) }
}

fn ci() -> Result<(), String> {
    ensure_apt(&[("xmllint", "libxml2-utils"), ("imcopy", "libcfitsio-bin"), ("nginx", "nginx"), ("chromium", "chromium"), ("chromedriver", "chromium-driver"), ("stilts", "stilts"), ("openssl", "openssl")])?;
    ensure_postgres()?;
    ensure_venv()?;
    let stale = codegen(true)?;
    if stale > 0 {
        return Err(format!("{stale} generated crate(s) are stale: run `cargo xtask codegen`"));
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    // No incremental state in CI (here and in `test_counting`): it is gigabytes a one-off build never reads.
    let clippy = Command::new(&cargo).args(["clippy", "--workspace", "--all-targets", "--quiet", "--", "-D", "warnings"]).env("CARGO_INCREMENTAL", "0").current_dir(root()).status().map_err(|e| format!("{cargo}: {e}"))?;
    if !clippy.success() {
        return Err(format!("`cargo clippy` failed ({clippy})"));
    }
    let (passed, failed) = test_counting(&cargo, &["test", "--workspace", "--quiet", "--no-fail-fast"])?;
    println!("ci: {passed} passed, {failed} failed");
    if failed > 0 { Err(format!("{failed} test(s) failed")) } else { Ok(()) }
}

/// Runs `cargo test`, echoing its output, and adds up the `test result:` lines.
fn test_counting(cargo: &str, args: &[&str]) -> Result<(u64, u64), String> {
    use std::io::{BufRead, BufReader};
    eprintln!("$ {cargo} {}", args.join(" "));
    let mut child = Command::new(cargo)
        .args(args)
        .env("CARGO_INCREMENTAL", "0")
        .current_dir(root())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cargo}: {e}"))?;
    let (mut passed, mut failed) = (0, 0);
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| e.to_string())?;
            println!("{line}");
            if let Some(rest) = line.strip_prefix("test result: ") {
                passed += count(rest, " passed");
                failed += count(rest, " failed");
            }
        }
    }
    let status = child.wait().map_err(|e| e.to_string())?;
    if !status.success() && failed == 0 {
        return Err(format!("`{cargo} {}` failed ({status})", args.join(" ")));
    }
    Ok((passed, failed))
}

/// The number before `word` in a `test result:` line.
fn count(line: &str, word: &str) -> u64 {
    line.split(';')
        .find_map(|part| part.trim().trim_start_matches("ok. ").trim_start_matches("FAILED. ").strip_suffix(word.trim_start()))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// Wall time of the release `ivoagen generate` on each corpus document, next to the wall time of
/// `ivoagen --version` (process start-up, the floor) measured in the same run.
fn bench_generate() -> Result<(), String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(&cargo, &["build", "--release", "--quiet", "-p", "ivoagen"])?;
    let bin = release("ivoagen");
    let out = std::env::temp_dir().join("ivoagen-bench");
    let time = |args: &[&str]| -> Result<f64, String> {
        let mut samples = Vec::new();
        for _ in 0..21 {
            let start = std::time::Instant::now();
            let status = Command::new(&bin).args(args).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().map_err(|e| e.to_string())?;
            samples.push(start.elapsed().as_secs_f64() * 1000.0);
            if !status.success() {
                return Err(format!("ivoagen {} failed", args.join(" ")));
            }
        }
        samples.sort_by(f64::total_cmp);
        Ok(samples[samples.len() / 2])
    };
    let floor = time(&["--version"])?;
    println!("{:<45} {:>9} {:>9}", "document", "median ms", "× start-up");
    println!("{:<45} {:>9.2} {:>9.1}", "(ivoagen --version: process start-up)", floor, 1.0);
    let docs = ["tests/corpus/museum/openapi.yaml", "tests/corpus/oai/v3.0/uspto.yaml", "tests/corpus/oai/v3.1/tictactoe.yaml", "tests/corpus/oai/v3.0/petstore.yaml"];
    for doc in docs {
        let _ = std::fs::remove_dir_all(&out);
        let spec = root().join(doc);
        let ms = time(&["generate", spec.to_str().unwrap_or_default(), "-o", out.to_str().unwrap_or_default(), "--crate-name", "bench"])?;
        let size = std::fs::metadata(&spec).map(|m| m.len()).unwrap_or(0);
        println!("{:<45} {:>9.2} {:>9.1}   ({size} bytes)", doc, ms, ms / floor);
    }
    Ok(())
}

/// Requests per second of the generated SODA parameter layer against a bare handler.
fn bench_params() -> Result<(), String> {
    ensure_apt(&[("wrk", "wrk")])?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(&cargo, &["build", "--release", "--quiet", "-p", "ivoagen-bench"])?;
    // The server on core 0 and wrk on core 1, so that neither preempts the other.
    let pin = has("taskset");
    let mut server = pinned("0", &release("params-bench"))
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("params-bench: {e}"))?;
    let stderr = server.stderr.take().ok_or("no stderr")?;
    let line = listening(stderr)?;
    let base = line.trim_start_matches("listening on ").trim_end_matches('/').to_owned();
    let query = "?id=sample-image&circle=10.68%2041.27%200.1";
    let wrk = |path: &str, seconds: u32| -> Result<f64, String> {
        let out = pinned("1", std::path::Path::new("wrk"))
            .args(["-t1", "-c32", &format!("-d{seconds}s"), &format!("{base}{path}{query}")])
            .output()
            .map_err(|e| format!("wrk: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("Non-2xx") {
            return Err(format!("{path} answered errors:\n{text}"));
        }
        text.lines()
            .find_map(|l| l.strip_prefix("Requests/sec:"))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| format!("no rate in wrk's output:\n{text}"))
    };
    let pid = server.id();
    // Server CPU time (user + system, in clock ticks of 10 ms) from /proc.
    let cpu_ticks = || -> Result<u64, String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default().split_whitespace().collect();
        let parse = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or("bad /proc stat");
        Ok(parse(11)? + parse(12)?)
    };
    let result = (|| -> Result<(), String> {
        wrk("/bare", 2)?;
        wrk("/soda/sync", 2)?;
        let (mut bare, mut generated, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        let (mut bare_cpu, mut generated_cpu) = (0.0, 0.0);
        let (mut bare_requests, mut generated_requests) = (0.0, 0.0);
        // Many short rounds: on a shared machine the load drifts, and a pair of rounds close in
        // time sees the same drift.
        let (rounds, seconds) = (24, 2);
        for round in 0..rounds {
            // Alternate which goes first, so drifts of the machine fall on both alike.
            let order: [&str; 2] = if round % 2 == 0 { ["/bare", "/soda/sync"] } else { ["/soda/sync", "/bare"] };
            let mut rates = [0.0; 2];
            for path in order {
                let before = cpu_ticks()?;
                let rate = wrk(path, seconds)?;
                let ticks = (cpu_ticks()? - before) as f64;
                let slot = usize::from(path != "/bare");
                rates[slot] = rate;
                if slot == 0 {
                    bare_cpu += ticks;
                    bare_requests += rate * f64::from(seconds);
                } else {
                    generated_cpu += ticks;
                    generated_requests += rate * f64::from(seconds);
                }
            }
            bare.push(rates[0]);
            generated.push(rates[1]);
            ratios.push(rates[1] / rates[0]);
        }
        // The spread of the paired rounds, so that a disturbed run shows as one.
        let mut sorted = ratios.clone();
        sorted.sort_by(f64::total_cmp);
        let (q1, q3) = (sorted[sorted.len() / 4], sorted[sorted.len() * 3 / 4]);
        let (b, g, r) = (median(bare), median(generated), median(ratios));
        let (b_us, g_us) = (bare_cpu * 10_000.0 / bare_requests, generated_cpu * 10_000.0 / generated_requests);
        let pinning = if pin { ", server and wrk pinned to separate cores" } else { "" };
        println!("{rounds} paired rounds of {seconds} s, wrk -t1 -c32, server on one worker thread{pinning}");
        println!("bare axum handler:          {b:>9.0} requests/s   {b_us:>6.2} µs server CPU per request");
        println!("generated parameter layer:  {g:>9.0} requests/s   {g_us:>6.2} µs server CPU per request");
        println!("throughput ratio (median of paired rounds): {:.1} % (quartiles {:.1}–{:.1} %)   CPU ratio: {:.2}×", 100.0 * r, 100.0 * q1, 100.0 * q3, g_us / b_us);
        Ok(())
    })();
    let _ = server.kill();
    let _ = server.wait();
    result?;
    // The same two routes in process, without sockets: the layer's own cost, and its allocations.
    let status = pinned("1", &release("params-bench")).arg("in-process").status().map_err(|e| format!("params-bench: {e}"))?;
    if !status.success() {
        return Err("params-bench in-process failed".to_owned());
    }
    Ok(())
}

/// A command pinned to `core` when `taskset` exists.
fn pinned(core: &str, program: &std::path::Path) -> Command {
    if has("taskset") {
        let mut c = Command::new("taskset");
        c.args(["-c", core]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

/// The median of some measurements.
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.len() % 2 == 1 { v[v.len() / 2] } else { (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0 }
}

/// A `/proc/PID/status` field, in kB.
fn proc_kb(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// SODA cutouts: HTTP throughput against a static body of the same size from the same server,
/// per-cutout time against CFITSIO, and memory while streaming a cutout of a 1 GiB image.
fn bench_cutout() -> Result<(), String> {
    use std::io::{Read, Write};
    ensure_apt(&[("wrk", "wrk"), ("cc", "gcc")])?;
    if !std::path::Path::new("/usr/include/fitsio.h").exists() {
        apt_install(&["libcfitsio-dev"])?;
    }
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(&cargo, &["build", "--release", "--quiet", "-p", "ivoagen-bench", "-p", "soda-cutout-server"])?;
    let root = root();
    let bench = release("cutout-bench");
    let reference = release("cfitsio-section");
    run("cc", &["-O2", root.join("benches/cfitsio/section.c").to_str().unwrap_or_default(), "-lcfitsio", "-o", reference.to_str().unwrap_or_default()])?;
    let data = root.join("target/bench-cutout");
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let output = |mut c: Command| -> Result<String, String> {
        let out = c.output().map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!("{c:?} failed: {}", String::from_utf8_lossy(&out.stderr)));
        }
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    if !data.join("bench.fits").exists() {
        let mut c = Command::new(&bench);
        c.arg("data").arg(&data);
        output(c)?;
    }

    // The same image tile-compressed as fpack does by default (RICE_1, rows as tiles, the floats
    // quantized with subtractive dither).
    if !data.join("benchz.fits.fz").exists() {
        let mut c = Command::new("fpack");
        c.arg("-O").arg(data.join("benchz.fits.fz")).arg(data.join("bench.fits"));
        output(c)?;
    }

    // Per-cutout time in one thread on core 0, ours and CFITSIO's alternately.
    let (mut ours, mut theirs, mut ours_z, mut theirs_z) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut section = String::new();
    let mut size = String::new();
    for _ in 0..5 {
        let mut c = pinned("0", &bench);
        c.arg("cpu").arg(&data).arg("3000");
        let line = output(c)?;
        let fields: Vec<&str> = line.split_whitespace().collect();
        section = fields[0].to_owned();
        size = fields[1].to_owned();
        ours.push(fields[2].parse::<f64>().map_err(|e| e.to_string())?);
        let mut c = pinned("0", &reference);
        c.arg(data.join("bench.fits")).arg(&section).arg("300");
        theirs.push(output(c)?.parse::<f64>().map_err(|e| e.to_string())?);
        let mut c = pinned("0", &bench);
        c.arg("cpu").arg(&data).arg("100").arg("benchz");
        let line = output(c)?;
        ours_z.push(line.split_whitespace().nth(2).ok_or("no time")?.parse::<f64>().map_err(|e| e.to_string())?);
        let mut c = pinned("0", &reference);
        c.arg(format!("{}[1]", data.join("benchz.fits.fz").display())).arg(&section).arg("100");
        theirs_z.push(output(c)?.parse::<f64>().map_err(|e| e.to_string())?);
    }
    let (ours, theirs, ours_z, theirs_z) = (median(ours), median(theirs), median(ours_z), median(theirs_z));

    // HTTP: the server on core 0 (one worker thread), wrk on core 1.
    let mut server = pinned("0", &bench).arg("serve").arg(&data).stderr(std::process::Stdio::piped()).spawn().map_err(|e| e.to_string())?;
    let stderr = server.stderr.take().ok_or("no stderr")?;
    let line = listening(stderr)?;
    let base = line.trim_start_matches("listening on ").trim_end_matches('/').to_owned();
    let cutout = format!("{base}/soda/sync?ID=bench&CIRCLE=150+2.2+{}", 181.0 / 3600.0);
    let wrk = |url: &str, seconds: u32| -> Result<f64, String> {
        let out = pinned("1", std::path::Path::new("wrk")).args(["-t1", "-c8", &format!("-d{seconds}s"), url]).output().map_err(|e| format!("wrk: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout);
        if text.contains("Non-2xx") || text.contains("Socket errors") {
            return Err(format!("{url} answered errors:\n{text}"));
        }
        text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse().ok()).ok_or_else(|| format!("no rate in wrk's output:\n{text}"))
    };
    let pid = server.id();
    // The server's CPU time (user + system, clock ticks of 10 ms) and minor page faults, from
    // /proc: what a request costs the server, which wrk's rate hides when wrk is the bottleneck
    // (the static body, on a busy machine).
    let usage = || -> Result<(u64, u64), String> {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
        let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default().split_whitespace().collect();
        let parse = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or("bad /proc stat");
        Ok((parse(11)? + parse(12)?, parse(7)?))
    };
    // One measured run: its rate, and the server's CPU µs and page faults per request.
    let measured = |url: &str, total: &mut [f64; 3]| -> Result<f64, String> {
        let before = usage()?;
        let rate = wrk(url, 3)?;
        let after = usage()?;
        total[0] += rate * 3.0;
        total[1] += (after.0 - before.0) as f64 * 10_000.0;
        total[2] += (after.1 - before.1) as f64;
        Ok(rate)
    };
    let fixed_url = format!("{base}/static");
    let (mut cut_usage, mut fixed_usage) = ([0.0; 3], [0.0; 3]);
    let rates = (|| -> Result<(f64, f64, f64), String> {
        wrk(&cutout, 2)?;
        wrk(&fixed_url, 2)?;
        let (mut cut, mut fixed, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
        for round in 0..6 {
            let (c, s) = if round % 2 == 0 {
                let c = measured(&cutout, &mut cut_usage)?;
                (c, measured(&fixed_url, &mut fixed_usage)?)
            } else {
                let s = measured(&fixed_url, &mut fixed_usage)?;
                (measured(&cutout, &mut cut_usage)?, s)
            };
            cut.push(c);
            fixed.push(s);
            ratios.push(c / s);
        }
        Ok((median(cut), median(fixed), median(ratios)))
    })();
    let _ = server.kill();
    let _ = server.wait();
    let (cut, fixed, ratio) = rates?;
    let per_request = |u: [f64; 3]| (u[1] / u[0], u[2] / u[0]);
    let ((cut_us, cut_faults), (fixed_us, fixed_faults)) = (per_request(cut_usage), per_request(fixed_usage));

    // Memory: a cutout of a 1 GiB image, streamed through the real server; then of a
    // tile-compressed image of more than 1 GB, in a fresh server. That one is compressed losslessly
    // (`fpack -g -q 0`: GZIP_1, ZQUANTIZ = NONE), as an archive keeps floats it must not quantize,
    // from an 18432² float32 image with noise down to the last mantissa bit (1.36 GB): gzip keeps
    // about 85 % of such pixels, so the file is over 1 GB (fpack's default, quantized RICE_1, would
    // need an image of 2 GiB or more to reach 1 GB). The uncompressed source is removed once packed.
    if !data.join("big.fits").exists() {
        let mut c = Command::new(&bench);
        c.arg("big").arg(&data);
        output(c)?;
    }
    // What earlier runs made of the 1 GiB image instead (544 MB), no longer measured.
    let _ = std::fs::remove_file(data.join("bigz.fits.fz"));
    let big_compressed = data.join("bigz-lossless.fits.fz");
    if !big_compressed.exists() {
        let mut c = Command::new(&bench);
        c.arg("noisy").arg(&data).arg("18432");
        output(c)?;
        let mut c = Command::new("fpack");
        c.args(["-g", "-q", "0", "-O"]).arg(&big_compressed).arg(data.join("noisy.fits"));
        let packed = output(c);
        let _ = std::fs::remove_file(data.join("noisy.fits"));
        packed?;
    }
    let compressed_size = std::fs::metadata(&big_compressed).map_err(|e| e.to_string())?.len();
    if compressed_size < 1_000_000_000 {
        return Err(format!("{} is {compressed_size} bytes, not the 1 GB or more this measure needs", big_compressed.display()));
    }
    // A fresh server streams one cutout of `id`: its RSS before, its peak, the bytes sent.
    let streamed = |id: &str| -> Result<(u64, u64, u64), String> {
        let mut server = Command::new(release("soda-cutout-server"))
            .args(["--bind", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        let stderr = server.stderr.take().ok_or("no stderr")?;
        let line = listening(stderr)?;
        let addr = line.trim_start_matches("soda-cutout-server: listening on http://").split('/').next().unwrap_or_default().to_owned();
        let pid = server.id();
        let memory = (|| -> Result<(u64, u64, u64), String> {
            let before = proc_kb(pid, "VmRSS:");
            let mut stream = std::net::TcpStream::connect(&addr).map_err(|e| e.to_string())?;
            write!(stream, "GET /soda/sync?ID={id}&CIRCLE=150+2.2+1 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
            let mut buffer = vec![0u8; 1 << 16];
            let mut total = 0u64;
            loop {
                let n = stream.read(&mut buffer).map_err(|e| e.to_string())?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
            Ok((before, proc_kb(pid, "VmHWM:"), total))
        })();
        let _ = server.kill();
        let _ = server.wait();
        memory
    };
    let (before, peak, total) = streamed("big")?;
    let (before_z, peak_z, total_z) = streamed("bigz-lossless")?;

    let pin = if has("taskset") { ", server on core 0 and wrk on core 1" } else { "" };
    println!("box {section} ({size} bytes of FITS), 4096² float32 image");
    println!("per cutout, one thread (median of 5 runs): ivoagen {ours:.1} µs, CFITSIO fits_copy_image_section {theirs:.1} µs: {:.2}× CFITSIO's time", ours / theirs);
    println!("the same, tile-compressed (fpack: RICE_1, row tiles, quantized floats): ivoagen {ours_z:.1} µs, CFITSIO {theirs_z:.1} µs: {:.2}× CFITSIO's time", ours_z / theirs_z);
    println!("HTTP, 6 paired rounds of 3 s, wrk -t1 -c8{pin}:");
    println!("  sync cutouts:        {cut:>8.0} /s");
    println!("  static body, same size, same server: {fixed:>8.0} /s");
    println!("  cutouts / static (median of paired rounds): {:.1} %", 100.0 * ratio);
    println!("  server CPU per request: cutout {cut_us:.0} µs, static {fixed_us:.0} µs (static / cutout: {:.1} %)", 100.0 * fixed_us / cut_us);
    println!("  page faults per request: cutout {cut_faults:.2}, static {fixed_faults:.2}");
    println!("streaming a {:.0} MB cutout of a 1 GiB image: server RSS {} MB before, peak {} MB", total as f64 / 1e6, before / 1024, peak / 1024);
    println!(
        "streaming a {:.0} MB cutout of a tile-compressed image of {:.2} GB ({compressed_size} bytes: bigz-lossless.fits.fz, 18432² float32, GZIP_1 lossless): server RSS {} MB before, peak {} MB",
        total_z as f64 / 1e6,
        compressed_size as f64 / 1e9,
        before_z / 1024,
        peak_z / 1024
    );
    Ok(())
}

/// The example server's FITS and WCS code against the crates that could replace it
/// (`xtask/compare-fits`, outside the workspace so that they never become the project's
/// dependencies): whole images, sections of tile-compressed ones, pixels against CFITSIO's
/// `imcopy`, world → pixel against astropy, in one run. Its data stays in
/// `target/bench-fits-crates` for the next run.
fn bench_fits_crates() -> Result<(), String> {
    ensure_apt(&[("fpack", "libcfitsio-bin"), ("imcopy", "libcfitsio-bin"), ("pkg-config", "pkg-config")])?;
    if !Path::new("/usr/include/fitsio.h").exists() {
        apt_install(&["libcfitsio-dev"])?;
    }
    ensure_venv()?;
    let root = root();
    let (data, python) = (root.join("target/bench-fits-crates"), root.join("target/venv/bin/python"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let path = |p: &Path| p.to_str().map(str::to_owned).ok_or_else(|| format!("{}: not UTF-8", p.display()));
    run(&cargo, &["run", "--release", "--quiet", "--locked", "--manifest-path", "xtask/compare-fits/Cargo.toml", "--", &path(&root)?, &path(&data)?, &path(&python)?])
}

/// UWS: job creations per second (each committed before its 303) and memory with 10,000 WAITs.
fn bench_uws() -> Result<(), String> {
    use std::io::{Read, Write};
    ensure_apt(&[("wrk", "wrk")])?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(&cargo, &["build", "--release", "--quiet", "-p", "soda-cutout-server"])?;
    let data = root().join("target/bench-uws");
    let _ = std::fs::remove_dir_all(&data);
    let mut server = pinned("0", &release("soda-cutout-server"))
        .args(["--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&data)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("soda-cutout-server: {e}"))?;
    let stderr = server.stderr.take().ok_or("no stderr")?;
    let line = listening(stderr)?;
    let base = line.split("listening on ").nth(1).unwrap_or_default().trim_end_matches('/').to_owned();
    let addr = base.trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned();
    let pid = server.id();
    let rss_kib = || proc_kb(pid, "VmRSS:");
    let result = (|| -> Result<(), String> {
        let script = data.join("post.lua");
        std::fs::write(&script, "wrk.method = \"POST\"\nwrk.body = \"ID=m31&CIRCLE=10+20+0.5\"\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n").map_err(|e| e.to_string())?;
        let wrk = |args: &[&str], url: &str| -> Result<f64, String> {
            let out = pinned("1", std::path::Path::new("wrk")).args(["-t1", "-c16", "-d5s"]).args(args).arg(url).output().map_err(|e| format!("wrk: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains("Non-2xx") {
                return Err(format!("{url} answered errors:\n{text}"));
            }
            text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse().ok()).ok_or_else(|| format!("no rate:\n{text}"))
        };
        let baseline = wrk(&[], &format!("{base}/availability"))?;
        let creations = wrk(&["-s", script.to_str().unwrap_or_default()], &format!("{base}/async"))?;
        println!("job creations, each committed to SQLite before its 303: {creations:>8.0} /s");
        println!("GET /availability on the same server (baseline):       {baseline:>8.0} /s   ({:.0} %)", 100.0 * creations / baseline);

        // One pending job, and 10,000 clients waiting on it.
        let mut stream = std::net::TcpStream::connect(&addr).map_err(|e| e.to_string())?;
        let body = "ID=m31";
        write!(stream, "POST /soda/async HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).map_err(|e| e.to_string())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
        let location = answer.lines().find_map(|l| l.strip_prefix("location: ")).ok_or("no Location")?.trim().to_owned();
        let path = location.split(&addr).nth(1).ok_or("bad Location")?.to_owned();
        let before = rss_kib();
        let mut waiters = Vec::with_capacity(10_000);
        for _ in 0..10_000 {
            let mut s = std::net::TcpStream::connect(&addr).map_err(|e| format!("connect: {e}"))?;
            write!(s, "GET {path}?WAIT=-1 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").map_err(|e| e.to_string())?;
            waiters.push(s);
        }
        std::thread::sleep(Duration::from_secs(2));
        let parked = rss_kib();
        // None has been answered: they are parked, not polled.
        let mut answered_early = 0;
        for s in waiters.iter_mut().step_by(100) {
            s.set_nonblocking(true).map_err(|e| e.to_string())?;
            let mut byte = [0u8; 1];
            if s.read(&mut byte).is_ok() {
                answered_early += 1;
            }
            s.set_nonblocking(false).map_err(|e| e.to_string())?;
        }
        println!("server memory: {:.1} MB before, {:.1} MB with 10,000 parked WAIT requests ({answered_early} of 100 sampled answered early)", before as f64 / 1024.0, parked as f64 / 1024.0);
        // RUN the job: every waiter wakes on the phase change.
        let start = std::time::Instant::now();
        let mut run = std::net::TcpStream::connect(&addr).map_err(|e| e.to_string())?;
        let body = "PHASE=RUN";
        write!(run, "POST {path}/phase HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len()).map_err(|e| e.to_string())?;
        let mut woken = 0;
        for mut s in waiters {
            s.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
            let mut head = [0u8; 12];
            if s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200") {
                woken += 1;
            }
        }
        println!("after PHASE=RUN: {woken} of 10,000 waiters answered 200 within {:.2} s", start.elapsed().as_secs_f64());
        Ok(())
    })();
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// The wrk script of `bench auth`: every mode goes through the same `request()` (so the client does
/// the same work in each), cycling through requests formatted once in `init`: none with a token
/// (`anonymous`), one token (`cached`), or one per line of a file (`each`).
const AUTH_WRK_SCRIPT: &str = r#"local requests = {}
local i = 0
function init(args)
  local path = args[2]
  if args[1] == "anonymous" then
    requests[1] = wrk.format("GET", path)
  elseif args[1] == "cached" then
    requests[1] = wrk.format("GET", path, { Authorization = "Bearer " .. args[3] })
  else
    for line in io.lines(args[3]) do
      if #line > 0 then
        requests[#requests + 1] = wrk.format("GET", path, { Authorization = "Bearer " .. line })
      end
    end
  end
end
function request()
  i = i + 1
  if i > #requests then i = 1 end
  return requests[i]
end
"#;

/// OpenID Connect bearer tokens: requests/s of the sync cutout route anonymous, with one valid
/// token (validated once, then cached), and with a different valid token per request (a signature
/// verification each time), in one run against the test issuer (`tests/oidc/issuer.py`).
fn bench_auth() -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    ensure_apt(&[("wrk", "wrk")])?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(&cargo, &["build", "--release", "--quiet", "-p", "soda-cutout-server"])?;
    let root = root();
    let dir = root.join("target/bench-auth");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let python = ivoagen_e2e::python();

    // The issuer: its URL and its control port.
    let mut issuer = Command::new(&python)
        .arg(root.join("tests/oidc/issuer.py"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e}", python.display()))?;
    let result = (|| -> Result<(), String> {
        let mut line = String::new();
        BufReader::new(issuer.stdout.take().ok_or("no stdout")?).read_line(&mut line).map_err(|e| e.to_string())?;
        let mut words = line.split_whitespace();
        let (Some(url), Some(control)) = (words.next(), words.next()) else {
            return Err(format!("the issuer printed `{line}`"));
        };
        let (url, control) = (url.to_owned(), control.trim_start_matches("http://").to_owned());

        // Tokens signed RS256 (as most identity providers sign), valid for an hour, each with its own
        // `jti`, minted in batches by parallel orders.
        const TOKENS: usize = 24_000;
        const BATCHES: usize = 4;
        let exp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs() + 3600;
        let started = std::time::Instant::now();
        let batches: Vec<Result<String, String>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..BATCHES)
                .map(|b| {
                    let control = control.clone();
                    // Orders of 500 tokens, each answered well within the client's 30 s timeout
                    // on a busy machine; a different subject per order keeps the tokens apart.
                    s.spawn(move || {
                        let mut text = String::new();
                        for order in 0..TOKENS / BATCHES / 500 {
                            let body = format!("{{\"claims\": {{\"sub\": \"bench-{b}-{order}\", \"aud\": \"soda\", \"exp\": {exp}}}, \"alg\": \"RS256\", \"count\": 500}}");
                            let response = ivoagen_e2e::http(&control, "POST", "/mint", &[("content-type", "application/json")], body.as_bytes());
                            if response.status != 200 {
                                return Err(format!("/mint: {} {}", response.status, response.text()));
                            }
                            text.push_str(&response.text());
                            text.push('\n');
                        }
                        Ok(text)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err("a minting thread panicked".to_owned()))).collect()
        });
        let mut tokens = Vec::with_capacity(TOKENS);
        for batch in batches {
            tokens.extend(batch?.lines().filter(|l| !l.is_empty()).map(str::to_owned));
        }
        let distinct: std::collections::HashSet<&String> = tokens.iter().collect();
        if distinct.len() != tokens.len() {
            return Err("the issuer minted the same token twice".to_owned());
        }
        eprintln!("minted {} tokens in {:.1} s", tokens.len(), started.elapsed().as_secs_f64());
        let (cached_token, fresh) = tokens.split_first().ok_or("no tokens")?;
        let file = dir.join("tokens.txt");
        std::fs::write(&file, fresh.join("\n")).map_err(|e| e.to_string())?;
        let script = dir.join("auth.lua");
        std::fs::write(&script, AUTH_WRK_SCRIPT).map_err(|e| e.to_string())?;

        // The server on core 0, its sample data in `target/bench-auth/data` (the default directory).
        let mut server = pinned("0", &release("soda-cutout-server"))
            .args(["--bind", "127.0.0.1:0", "--oidc-issuer", &url, "--oidc-audience", "soda"])
            .current_dir(&dir)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("soda-cutout-server: {e}"))?;
        let measured = (|| -> Result<(), String> {
            let stderr = server.stderr.take().ok_or("no stderr")?;
            let mut lines = BufReader::new(stderr).lines();
            let line = loop {
                match lines.next() {
                    Some(Ok(line)) if line.contains("listening on ") => break line,
                    Some(Ok(_)) => {}
                    _ => return Err("the server exited before listening".to_owned()),
                }
            };
            std::thread::spawn(move || for _ in lines {});
            let base = line.split("listening on ").nth(1).unwrap_or_default().trim_end_matches('/').to_owned();
            let addr = base.trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned();
            let path = format!("{}/sync?ID=sample-image&CIRCLE=10.68+41.27+0.01", base.split(&addr).nth(1).unwrap_or_default());
            // The keys are fetched in the background: wait until a token is accepted.
            let waited = std::time::Instant::now();
            loop {
                let response = ivoagen_e2e::http(&addr, "GET", &path, &[("authorization", &format!("Bearer {cached_token}"))], b"");
                if response.status == 200 {
                    break;
                }
                if waited.elapsed() > Duration::from_secs(20) {
                    return Err(format!("a valid token still gets {}: {}", response.status, response.text()));
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let pid = server.id();
            let cpu_ticks = || -> Result<u64, String> {
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| e.to_string())?;
                let fields: Vec<&str> = stat.rsplit_once(')').map(|(_, rest)| rest).unwrap_or_default().split_whitespace().collect();
                let parse = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).ok_or("bad /proc stat");
                Ok(parse(11)? + parse(12)?)
            };
            // One wrk run on core 1: requests/s, requests made, server CPU µs per request.
            let url = format!("{base}/");
            let wrk = |mode: &str, seconds: u32| -> Result<(f64, u64, f64), String> {
                let before = cpu_ticks()?;
                let out = pinned("1", Path::new("wrk"))
                    .args(["-t1", "-c8", &format!("-d{seconds}s"), "-s"])
                    .arg(&script)
                    .arg(&url)
                    .args(["--", mode, &path])
                    .arg(if mode == "cached" { cached_token.as_str() } else { file.to_str().unwrap_or_default() })
                    .output()
                    .map_err(|e| format!("wrk: {e}"))?;
                let after = cpu_ticks()?;
                let text = String::from_utf8_lossy(&out.stdout);
                if text.contains("Non-2xx") || text.contains("Socket errors") || !out.status.success() {
                    return Err(format!("{mode}: errors:\n{text}{}", String::from_utf8_lossy(&out.stderr)));
                }
                let rate: f64 = text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse().ok()).ok_or_else(|| format!("no rate in wrk's output:\n{text}"))?;
                let count: u64 = text.lines().find_map(|l| l.trim().split_once(" requests in ")).and_then(|(n, _)| n.trim().parse().ok()).ok_or_else(|| format!("no count in wrk's output:\n{text}"))?;
                Ok((rate, count, (after - before) as f64 * 10_000.0 / count.max(1) as f64))
            };
            wrk("anonymous", 1)?;
            wrk("cached", 1)?;
            let (anonymous, _, anonymous_us) = wrk("anonymous", 3)?;
            let (cached, _, cached_us) = wrk("cached", 3)?;
            let (each, count, each_us) = wrk("each", 3)?;
            let repeated = count.saturating_sub(fresh.len() as u64);
            println!("sync cutout (GET {path}), wrk -t1 -c8 3 s on core 1, server on core 0:");
            println!("  anonymous:                          {anonymous:>8.0} req/s   {anonymous_us:>5.0} µs server CPU/req");
            println!("  one valid token (cached):           {cached:>8.0} req/s   {cached_us:>5.0} µs server CPU/req   ({:.0} % of anonymous; target ≥ 85 %)", 100.0 * cached / anonymous);
            println!("  a new valid token each (validated): {each:>8.0} req/s   {each_us:>5.0} µs server CPU/req   ({:.0} % of anonymous)", 100.0 * each / anonymous);
            println!("  ({count} validated requests on {} distinct tokens: {repeated} repeated, those cached)", fresh.len());
            Ok(())
        })();
        let _ = server.kill();
        let _ = server.wait();
        measured
    })();
    let _ = issuer.kill();
    let _ = issuer.wait();
    result
}

/// A release SODA server on `data` with `args`, started and stopped by its PID; its base URL.
struct Replica {
    child: std::process::Child,
    base: String,
    addr: String,
}

impl Replica {
    fn start(data: &std::path::Path, args: &[&str]) -> Result<Replica, String> {
        use std::io::{BufRead, BufReader};
        let mut child = Command::new(release("soda-cutout-server"))
            .args(["--bind", "127.0.0.1:0", "--uws-max-jobs", "0", "--data-dir"])
            .arg(data)
            .args(args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|e| format!("soda-cutout-server: {e}"))?;
        let stderr = child.stderr.take().ok_or("no stderr")?;
        let mut lines = BufReader::new(stderr).lines();
        let line = loop {
            match lines.next() {
                Some(Ok(line)) if line.contains("listening on ") => break line,
                Some(Ok(_)) => {}
                _ => {
                    let _ = child.kill();
                    return Err("the server exited before listening".to_owned());
                }
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let base = line.split("listening on ").nth(1).unwrap_or_default().trim_end_matches('/').to_owned();
        let addr = base.trim_start_matches("http://").split('/').next().unwrap_or_default().to_owned();
        Ok(Replica { child, base, addr })
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 exchange (`Connection: close`): the status and the `Location` header.
fn exchange(addr: &str, head: &str, body: &str) -> Result<(u16, Option<String>), String> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).map_err(|e| e.to_string())?;
    write!(stream, "{head}\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}", body.len()).map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or("no status")?;
    let location = answer.lines().find_map(|l| l.strip_prefix("location: ")).map(|l| l.trim().to_owned());
    Ok((status, location))
}

/// UWS on PostgreSQL: durable job creations per second on one and two replicas against SQLite
/// on one (each job committed before its 303), and how soon a WAIT parked on one replica wakes
/// when the job changes phase through the other.
fn bench_uws_postgresql() -> Result<(), String> {
    ensure_apt(&[("wrk", "wrk")])?;
    ensure_postgres()?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    run(&cargo, &["build", "--release", "--quiet", "-p", "soda-cutout-server"])?;
    let data = root().join("target/bench-uws-pg");
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let script = data.join("post.lua");
    std::fs::write(&script, "wrk.method = \"POST\"\nwrk.body = \"ID=m31&CIRCLE=10+20+0.5\"\nwrk.headers[\"Content-Type\"] = \"application/x-www-form-urlencoded\"\n").map_err(|e| e.to_string())?;
    // Creations by two wrk (16 connections each) at once, on one replica or one on each; the sum
    // of rates.
    let creations = |replicas: &[&Replica]| -> Result<f64, String> {
        let runs: Vec<_> = replicas
            .iter()
            .map(|r| Command::new("wrk").args(["-t1", "-c16", "-d5s", "-s"]).arg(&script).arg(format!("{}/async", r.base)).output())
            .collect();
        let mut total = 0.0;
        for out in runs {
            let out = out.map_err(|e| format!("wrk: {e}"))?;
            let text = String::from_utf8_lossy(&out.stdout);
            if text.contains("Non-2xx") {
                return Err(format!("creations answered errors:\n{text}"));
            }
            total += text.lines().find_map(|l| l.strip_prefix("Requests/sec:")).and_then(|v| v.trim().parse::<f64>().ok()).ok_or_else(|| format!("no rate:\n{text}"))?;
        }
        Ok(total)
    };
    let sqlite = {
        let one = Replica::start(&data.join("sqlite"), &[])?;
        creations(&[&one, &one])?
    };
    let pg = ivoagen_e2e::Postgres::start("bench-uws");
    let url = pg.url();
    let store = ["--job-store", url.as_str()];
    let (one, two, latencies) = {
        let a = Replica::start(&data.join("a"), &store)?;
        let one = creations(&[&a, &a])?;
        let b = Replica::start(&data.join("b"), &store)?;
        let two = creations(&[&a, &b])?;
        // WAIT on A, RUN through B: from sending RUN to A's answer, 200 times.
        let mut latencies = Vec::new();
        for _ in 0..200 {
            let (_, location) = exchange(&a.addr, "POST /soda/async HTTP/1.1", "ID=m31&CIRCLE=10+20+0.5")?;
            let location = location.ok_or("no Location")?;
            let path = location.split(&a.addr).nth(1).ok_or("bad Location")?.to_owned();
            let waiter = {
                let (addr, path) = (a.addr.clone(), path.clone());
                std::thread::spawn(move || exchange(&addr, &format!("GET {path}?WAIT=30 HTTP/1.1"), "").map(|_| std::time::Instant::now()))
            };
            std::thread::sleep(Duration::from_millis(20));
            let sent = std::time::Instant::now();
            exchange(&b.addr, &format!("POST {path}/phase HTTP/1.1"), "PHASE=RUN")?;
            let woken = waiter.join().map_err(|_| "the waiter panicked")??;
            latencies.push(woken.saturating_duration_since(sent).as_secs_f64() * 1000.0);
        }
        (one, two, latencies)
    };
    let mut sorted = latencies;
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
    println!("durable job creations (POST /soda/async, two wrk of 16 connections, 5 s):");
    println!("  SQLite, one server:          {sqlite:>8.0} /s");
    println!("  PostgreSQL, one replica:     {one:>8.0} /s  ({:.2}x SQLite)", one / sqlite);
    println!("  PostgreSQL, two replicas:    {two:>8.0} /s  ({:.2}x SQLite, {:.2}x one replica)", two / sqlite, two / one);
    println!("WAIT on replica A woken by PHASE=RUN through replica B (from sending RUN to A's answer, 200 jobs):");
    println!("  p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms", at(0.5), at(0.99), at(1.0));
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("codegen") => match codegen(args.get(1).is_some_and(|a| a == "--check")) {
            Ok(0) => Ok(()),
            Ok(n) => Err(format!("{n} generated crate(s) are stale: run `cargo xtask codegen`")),
            Err(e) => Err(e),
        },
        Some("ci") => ci(),
        Some("bench") if args.get(1).map(String::as_str) == Some("generate") => bench_generate(),
        Some("bench") if args.get(1).map(String::as_str) == Some("params") => bench_params(),
        Some("bench") if args.get(1).map(String::as_str) == Some("uws") && args.get(2..) == Some(&["--store".to_owned(), "postgresql".to_owned()][..]) => bench_uws_postgresql(),
        Some("bench") if args.get(1).map(String::as_str) == Some("uws") => bench_uws(),
        Some("bench") if args.get(1).map(String::as_str) == Some("cutout") => bench_cutout(),
        Some("bench") if args.get(1).map(String::as_str) == Some("auth") => bench_auth(),
        Some("bench") if args.get(1).map(String::as_str) == Some("fits-crates") => bench_fits_crates(),
        Some("run") => codegen(false).and_then(|_| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
            let mut cmd = vec!["run", "--release", "--quiet", "-p", "soda-cutout-server", "--"];
            cmd.extend(args[1..].iter().map(String::as_str));
            run(&cargo, &cmd)
        }),
        _ => Err("usage: cargo xtask codegen [--check] | ci | run [SERVER ARGS] | bench generate|params|uws [--store postgresql]|cutout|auth|fits-crates".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

/// The line in which a server says where it listens, among the first it writes to `stderr`
/// (what it swept at start may come before).
fn listening(stderr: std::process::ChildStderr) -> Result<String, String> {
    use std::io::{BufRead, BufReader};
    for line in BufReader::new(stderr).lines().take(5) {
        let line = line.map_err(|e| e.to_string())?;
        if line.contains("listening on ") {
            return Ok(line);
        }
    }
    Err("the server did not say where it listens".into())
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_test_results() {
        let line = "ok. 16 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(super::count(line, " passed"), 16);
        assert_eq!(super::count(line, " failed"), 2);
    }

    /// The same check as `cargo xtask codegen --check`, so that `cargo test` catches stale
    /// generated code.
    #[test]
    fn generated_crates_are_fresh() {
        assert_eq!(super::codegen(true), Ok(0), "run `cargo xtask codegen`");
    }
}
