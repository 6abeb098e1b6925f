//! Nothing a client sends takes the bundled SODA server down: huge polygons, odd IDs, damaged
//! files, many datasets, odd URIs, oversized heads, stalled bodies, large uploads cut short and
//! too many connections, each through a real server process and socket.

use ivoagen_e2e::{Response, Server, built, http, root, soda_error};
use soda_cutout_server::service::fits;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn binary() -> PathBuf {
    built("soda-cutout-server")
}

/// A fresh data directory with the sample datasets.
fn data_dir(name: &str) -> PathBuf {
    let data = root().join("target/e2e/data/hostile").join(name);
    let _ = std::fs::remove_dir_all(&data);
    soda_cutout_server::service::sample::ensure(&data).unwrap();
    data
}

fn start(name: &str, args: &[&str]) -> (Server, PathBuf) {
    start_with_env(name, args, &[])
}

fn start_with_env(name: &str, args: &[&str], env: &[(&str, &str)]) -> (Server, PathBuf) {
    let data = data_dir(name);
    let mut all = vec!["--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    (Server::start_with_env(&binary(), &all, env), data)
}

/// The server still answers a plain request.
fn alive(server: &Server) {
    let r = http(&server.addr, "GET", "/soda/availability", &[], b"");
    assert_eq!(r.status, 200, "{}", r.text());
}

fn polygon(vertices: usize) -> String {
    let mut body = String::from("ID=sample-image&POLYGON=");
    for i in 0..vertices {
        body.push_str(if i % 2 == 0 { "10+41+" } else { "60+41+" });
    }
    body.pop();
    body
}

fn post_form(server: &Server, path: &str, body: &str) -> Response {
    http(&server.addr, "POST", path, &[("Content-Type", "application/x-www-form-urlencoded")], body.as_bytes())
}

#[test]
fn huge_polygons_are_refused_and_large_ones_plan_quickly() {
    let (server, _) = start("polygons", &[]);
    let began = Instant::now();
    let r = post_form(&server, "/soda/sync", &polygon(8000));
    soda_error(&r, 400, "UsageError");
    assert!(r.text().contains("at most 1000"), "{}", r.text());
    assert!(began.elapsed() < Duration::from_secs(10), "{:?}", began.elapsed());
    alive(&server);

    // Within the bound: a long-edged 1000-vertex polygon, planned from the pixels near the image.
    let began = Instant::now();
    let r = post_form(&server, "/soda/sync", &polygon(1000));
    assert!(matches!(r.status, 200 | 204 | 400), "{} {}", r.status, r.text());
    if r.status == 400 {
        // A polygon whose edges double back on themselves may be refused, but not for its size.
        soda_error(&r, 400, "UsageError");
        assert!(!r.text().contains("at most"), "{}", r.text());
    }
    assert!(began.elapsed() < Duration::from_secs(20), "a 1000-vertex polygon took {:?}", began.elapsed());
    // A real 1000-vertex polygon around the image's centre: a correct cutout.
    let mut body = String::from("ID=sample-image&POLYGON=");
    for k in 0..1000 {
        let angle = std::f64::consts::TAU * k as f64 / 1000.0;
        body.push_str(&format!("{:.6}+{:.6}+", 10.68 + 0.01 * angle.cos() / 41.27f64.to_radians().cos(), 41.27 + 0.01 * angle.sin()));
    }
    body.pop();
    let r = post_form(&server, "/soda/sync", &body);
    assert_eq!(r.status, 200, "{}", r.text());
    let cards = r.body.chunks(fits::CARD).map(|c| String::from_utf8_lossy(c).into_owned()).take_while(|c| !c.starts_with("END "));
    let header = fits::Header::from_cards(cards.collect::<Vec<_>>());
    // 0.01° = 36 pixels either side of the centre.
    for axis in ["NAXIS1", "NAXIS2"] {
        let n = header.number(axis).unwrap();
        assert!((72.0..=75.0).contains(&n), "{axis} = {n}");
    }

    // In POS too.
    let pos = polygon(1002).replace("POLYGON=", "POS=POLYGON+");
    soda_error(&post_form(&server, "/soda/sync", &pos), 400, "UsageError");
    // Async jobs are refused at creation (not when they run), with or without PHASE=RUN, in
    // POLYGON and in POS, and no job is kept.
    let cases = [polygon(8000), format!("{}&PHASE=RUN", polygon(1001)), pos.clone(), format!("{pos}&PHASE=RUN")];
    for body in &cases {
        let r = post_form(&server, "/soda/async", body);
        soda_error(&r, 400, "UsageError");
        assert!(r.text().contains("at most 1000"), "{}", r.text());
    }
    let jobs = http(&server.addr, "GET", "/soda/async", &[], b"");
    assert_eq!(jobs.status, 200, "{}", jobs.text());
    assert!(!jobs.text().contains("<uws:jobref"), "a refused job was kept: {}", jobs.text());
    // At the cap, a job is created.
    let r = post_form(&server, "/soda/async", &polygon(1000));
    assert_eq!(r.status, 303, "{}", r.text());
    alive(&server);
}

#[test]
fn an_id_with_a_multibyte_character_is_a_usage_error() {
    let (server, _) = start("utf8-id", &[]);
    for id in ["abcde%C3%A9%3Fx", "ivo%3A%2F%C3%A9%3Fx", "%C3%A9%C3%A9%C3%A9%3F"] {
        let r = http(&server.addr, "GET", &format!("/soda/sync?ID={id}&CIRCLE=10.68+41.27+0.01"), &[], b"");
        soda_error(&r, 400, "UsageError");
        let r = http(&server.addr, "GET", &format!("/soda/links?ID={id}"), &[], b"");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    alive(&server);
}

#[test]
fn a_damaged_dataset_is_not_a_missing_one() {
    let (server, data) = start("damaged", &[]);
    std::fs::write(data.join("broken.fits"), b"this is not FITS at all, just garbage bytes\n".repeat(100)).unwrap();
    // A header cut short: a FITS start without END.
    std::fs::write(data.join("cut.fits"), format!("{:<80}", "SIMPLE  =                    T")).unwrap();
    soda_error(&http(&server.addr, "GET", "/soda/sync?ID=nothing-here&CIRCLE=10.68+41.27+0.01", &[], b""), 404, "Error");
    for id in ["broken", "cut"] {
        let r = http(&server.addr, "GET", &format!("/soda/sync?ID={id}&CIRCLE=10.68+41.27+0.01"), &[], b"");
        soda_error(&r, 500, "Error");
        assert!(r.text().contains("damaged"), "{}", r.text());
        let links = http(&server.addr, "GET", &format!("/soda/links?ID={id}"), &[], b"").text();
        assert!(links.contains("FatalFault"), "{links}");
    }
    alive(&server);
}

#[test]
fn more_datasets_than_descriptors_are_served_by_closing_old_ones() {
    let data = data_dir("many");
    for i in 0..300 {
        soda_cutout_server::service::sample::write_image(&data.join(format!("d{i}.fits")), 64, 10.68, 41.27, 1.0 / 3600.0).unwrap();
    }
    // 64 descriptors for the whole process; 16 datasets open at most.
    let binary = binary();
    let args = ["--nofile=64:64", binary.to_str().unwrap(), "--data-dir", data.to_str().unwrap()];
    let server = Server::start_with_env(std::path::Path::new("prlimit"), &args, &[("SODA_OPEN_DATASETS", "16")]);
    for round in 0..2 {
        for i in 0..300 {
            let r = http(&server.addr, "GET", &format!("/soda/sync?ID=d{i}&CIRCLE=10.68+41.27+0.002"), &[], b"");
            assert_eq!(r.status, 200, "round {round}, dataset {i}: {}", r.text());
        }
    }
    // prlimit executes the server in its own process: the cap, not the fallback, kept it small.
    let fds = std::fs::read_dir(format!("/proc/{}/fd", server.pid())).unwrap().count();
    assert!(fds <= 40, "{fds} descriptors open");
    alive(&server);
}

/// Reads what the server sends until it closes the connection (or `limit` passes).
fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    stream.set_read_timeout(Some(limit)).unwrap();
    let mut raw = Vec::new();
    let closed = stream.read_to_end(&mut raw).is_ok();
    (String::from_utf8_lossy(&raw).into_owned(), closed)
}

#[test]
fn a_stalled_body_is_answered_408_and_closed() {
    let (server, _) = start("stalled", &["--body-timeout", "1"]);
    let began = Instant::now();
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    let head = format!("POST /soda/sync HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nID=sample-image&", server.addr);
    stream.write_all(head.as_bytes()).unwrap();
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(closed, "still open after {:?}: {answer}", began.elapsed());
    assert!(began.elapsed() < Duration::from_secs(8), "{:?}", began.elapsed());
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\r\n\r\nUsageError: the request body stopped arriving"), "{answer}");

    // The whole-body deadline too, with bytes trickling in.
    let (server, _) = start("deadline", &["--body-timeout", "5", "--body-deadline", "2"]);
    let began = Instant::now();
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    let head = format!("POST /soda/sync HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\nID=sample-image", server.addr);
    stream.write_all(head.as_bytes()).unwrap();
    while began.elapsed() < Duration::from_secs(4) {
        if stream.write_all(b"&").is_err() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(closed && answer.starts_with("HTTP/1.1 408"), "{answer}");
    alive(&server);
}

#[test]
fn connections_beyond_the_cap_wait() {
    let (server, _) = start("cap", &["--max-connections", "2"]);
    // Two connections that have begun a request and stalled.
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(b"GET /soda/availability HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    // A third is not served while they are open...
    let mut third = TcpStream::connect(&server.addr).unwrap();
    third.write_all(format!("GET /soda/availability HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", server.addr).as_bytes()).unwrap();
    third.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    let mut byte = [0u8; 1];
    assert!(third.read(&mut byte).is_err(), "a third connection was served beside two");
    // ...and is once one of them closes.
    held.pop();
    let (answer, _) = read_until_closed(&mut third, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    drop(held);
}

/// Sends `request` as it is and reads the answer until the server closes.
fn raw(server: &Server, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    // The server may answer and close before it has read everything.
    let _ = stream.write_all(request);
    read_until_closed(&mut stream, Duration::from_secs(10)).0
}

#[test]
fn protocol_errors_carry_the_soda_label() {
    let (server, _) = start("protocol", &[]);
    let long = format!("GET /soda/sync?ID={} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let many = format!("GET /soda/availability HTTP/1.1\r\nHost: x\r\n{}\r\n", (0..120).map(|i| format!("X-H{i}: v\r\n")).collect::<String>());
    let big = format!("GET /soda/availability HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(500_000));
    for (request, status) in [(long, "414"), (many, "431"), (big, "431")] {
        let answer = raw(&server, request.as_bytes());
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{answer}"));
        assert!(head.starts_with(&format!("HTTP/1.1 {status} ")), "{answer}");
        assert!(head.contains("content-type: text/plain; charset=utf-8"), "{head}");
        assert!(body.starts_with("UsageError: ") && head.contains(&format!("content-length: {}", body.len())), "{answer}");
    }
    // A path whose escapes are not UTF-8 names no job.
    for path in ["/soda/async/%ff", "/soda/async/%C3%28/phase", "/soda/%ff"] {
        soda_error(&http(&server.addr, "GET", path, &[], b""), 400, "UsageError");
    }
    assert_eq!(http(&server.addr, "GET", "/soda/async/%41bc", &[], b"").status, 404, "a UTF-8 escape is routed");
    alive(&server);
}

/// The peak resident memory of a process, in MiB.
fn peak_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse::<u64>().unwrap() / 1024
}

#[test]
fn concurrent_large_bodies_share_a_bounded_budget() {
    let (server, _) = start("bodies", &[]);
    let body: std::sync::Arc<Vec<u8>> = std::sync::Arc::new({
        let mut b = b"ID=sample-image&CIRCLE=10.68+41.27+0.001&RESPONSEFORMAT=".to_vec();
        b.resize(24 << 20, b'a');
        b
    });
    let threads: Vec<_> = (0..16)
        .map(|_| {
            let (addr, body) = (server.addr.clone(), body.clone());
            std::thread::spawn(move || {
                let mut stream = TcpStream::connect(&addr).unwrap();
                let head = format!("POST /soda/sync HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n", body.len());
                // A refused body is answered before it is sent: the rest of the write fails.
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
                read_until_closed(&mut stream, Duration::from_secs(60)).0
            })
        })
        .collect();
    let answers: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    let busy = answers.iter().filter(|r| r.starts_with("HTTP/1.1 503")).count();
    for r in &answers {
        assert!(r.starts_with("HTTP/1.1 400") || r.starts_with("HTTP/1.1 503"), "{}", &r[..r.len().min(300)]);
    }
    assert!(busy > 0, "16 bodies of 24 MiB were all read at once");
    let peak = peak_mib(server.pid());
    assert!(peak < 500, "the server peaked at {peak} MiB");
    eprintln!("16 × 24 MiB bodies: {busy} refused with 503, peak {peak} MiB");
    alive(&server);
}

/// An empty folder for servers to use as their temporary folder (`TMPDIR`).
fn fresh_tmp(name: &str) -> PathBuf {
    let tmp = root().join("target/e2e/data/hostile").join(name);
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    tmp
}

/// The files in the servers' folders of temporary upload files, under `tmp`.
fn spilled(tmp: &std::path::Path) -> usize {
    walk(&tmp.join("ivoagen-uploads")).len()
}

/// The servers' folders of temporary upload files under `tmp` (`PID.START@HOST`), sorted.
fn upload_folders(tmp: &std::path::Path) -> Vec<String> {
    let mut folders: Vec<String> = std::fs::read_dir(tmp.join("ivoagen-uploads")).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    folders.sort();
    folders
}

/// The files in the folders under `dir`.
fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().flat_map(|e| std::fs::read_dir(e.path()).into_iter().flatten().flatten().map(|f| f.path())).collect()
}

/// Begins a multipart POST announcing 50 MB and sends a 3 MiB file part of it, which the server
/// writes to a temporary file as it arrives.
fn begin_upload(server: &Server) -> TcpStream {
    let mut stream = TcpStream::connect(&server.addr).unwrap();
    let head = format!("POST /soda/sync HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=XX\r\nContent-Length: 50000000\r\n\r\n", server.addr);
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(b"--XX\r\nContent-Disposition: form-data; name=\"t\"; filename=\"t.vot\"\r\n\r\n").unwrap();
    stream.write_all(&vec![b'x'; 3 << 20]).unwrap();
    stream
}

/// Waits up to 5 s for `n` temporary upload files under `tmp`.
fn await_spilled(tmp: &std::path::Path, n: usize) {
    let began = Instant::now();
    while spilled(tmp) != n && began.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(spilled(tmp), n, "the parts are in temporary files: {:?}", upload_folders(tmp));
}

/// Waits up to 5 s for the folder of temporary upload files to be empty; what is left.
fn spilled_after(tmp: &std::path::Path) -> usize {
    let began = Instant::now();
    while spilled(tmp) > 0 && began.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    spilled(tmp)
}

#[test]
fn a_large_upload_cut_short_leaves_no_temporary_file() {
    let tmp = fresh_tmp("uploads-tmp");
    let (server, _) = start_with_env("uploads", &["--body-timeout", "1"], &[("TMPDIR", tmp.to_str().unwrap())]);
    // The body stalls: 408, and the part's file is gone.
    let mut stream = begin_upload(&server);
    await_spilled(&tmp, 1);
    let (answer, closed) = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(closed && answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(spilled_after(&tmp), 0, "a stalled upload's file is removed");

    // The client goes away mid-part.
    let stream = begin_upload(&server);
    await_spilled(&tmp, 1);
    drop(stream);
    assert_eq!(spilled_after(&tmp), 0, "an abandoned upload's file is removed");

    // A body whose part never ends properly: refused as malformed, nothing left.
    let mut stream = begin_upload(&server);
    await_spilled(&tmp, 1);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let (answer, _) = read_until_closed(&mut stream, Duration::from_secs(10));
    assert!(answer.starts_with("HTTP/1.1 4"), "{answer}");
    assert_eq!(spilled_after(&tmp), 0, "a malformed upload's file is removed");
    alive(&server);
}

#[test]
fn the_temporary_files_of_a_killed_server_are_removed_when_the_next_starts() {
    let tmp = fresh_tmp("killed-tmp");
    let env = [("TMPDIR", tmp.to_str().unwrap())];
    // Two servers sharing the temporary folder, each receiving a large file.
    let (killed, _) = start_with_env("killed", &[], &env);
    let (running, _) = start_with_env("running", &[], &env);
    let (_a, _b) = (begin_upload(&killed), begin_upload(&running));
    await_spilled(&tmp, 2);
    let (pids, folders) = ([killed.pid(), running.pid()], upload_folders(&tmp));
    assert_eq!(folders.len(), 2, "{folders:?}");
    for pid in pids {
        assert!(folders.iter().any(|f| f.starts_with(&format!("{pid}."))), "a folder named by process {pid}: {folders:?}");
    }
    let survivor = folders.iter().find(|f| f.starts_with(&format!("{}.", running.pid()))).unwrap().clone();
    // All of both parts written.
    let bytes = || -> u64 { walk(&tmp.join("ivoagen-uploads")).iter().map(|f| f.metadata().unwrap().len()).sum() };
    let began = Instant::now();
    while bytes() < 2 * (3 << 20) && began.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(bytes(), 2 * (3 << 20));
    killed.kill_9();
    assert_eq!(spilled(&tmp), 2, "a killed server's file stays until another server starts");

    // The next server removes the killed one's folder as it starts, and only that one: the
    // running server's upload goes on.
    let (next, _) = start_with_env("next", &[], &env);
    assert_eq!(upload_folders(&tmp), [survivor], "only the killed server's folder is removed");
    assert_eq!(spilled(&tmp), 1);
    assert!(next.log().iter().any(|line| line.contains("removed temporary upload files left by ended processes (folders: 1, bytes: 3145728)")), "{:?}", next.log());
    alive(&running);
    alive(&next);
}

#[test]
fn the_operator_sets_how_much_uploads_may_hold() {
    let tmp = fresh_tmp("limits-tmp");
    let env = [("TMPDIR", tmp.to_str().unwrap())];
    let mut body = b"--XX\r\nContent-Disposition: form-data; name=\"ID\"\r\n\r\nsample-image\r\n--XX\r\nContent-Disposition: form-data; name=\"t\"; filename=\"t.vot\"\r\n\r\n".to_vec();
    body.extend(vec![b'x'; 3 << 20]);
    body.extend_from_slice(b"\r\n--XX--\r\n");
    let send = |server: &Server| http(&server.addr, "POST", "/soda/sync", &[("content-type", "multipart/form-data; boundary=XX")], &body);
    // One request's files over --max-upload: 413.
    let (server, _) = start_with_env("max-upload", &["--max-upload", "2M"], &env);
    let refused = send(&server);
    soda_error(&refused, 413, "UsageError");
    assert!(refused.text().contains("larger than 2097152 bytes"), "{}", refused.text());
    // All requests' files over --upload-space (from the environment): 503, a retry may succeed.
    let (server, _) = start_with_env("upload-space", &[], &[env[0], ("UPLOAD_SPACE", "2M")]);
    let refused = send(&server);
    soda_error(&refused, 503, "ServiceUnavailable");
    assert!(refused.text().contains("too many large uploaded files"), "{}", refused.text());
    assert_eq!(spilled_after(&tmp), 0, "nothing left of either");
    // Within the defaults the same body is read whole: its file part is no parameter of the
    // sync route and goes unused, and the dataset is served.
    let (server, _) = start_with_env("upload-default", &[], &env);
    let read = send(&server);
    assert_eq!(read.status, 200, "{}", read.text());
    assert!(read.body.starts_with(b"SIMPLE  ="), "the dataset, as FITS");
}
