//! Data rights through the real SODA server: a dataset that the data directory's
//! `proprietary.txt` lists is cut (sync and async) and linked (DataLink) only for members of its
//! groups. Anonymous callers get 401 with the challenges, other identities 403
//! `AuthorizationError` naming them in `X-VO-Authenticated`; DataLink answers a fault row instead;
//! a job for it fails, run as the identity that created it. The policy is read again when it
//! changes, and a policy that cannot be read refuses everything rather than serve proprietary data.

use ivoagen_e2e::{Response, Server, built, http, root, soda_error};
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

/// The SODA server over the sample data plus `deep-field`, proprietary to `survey-team`, with
/// alice in that group and bob in another; and the data directory.
fn start(name: &str) -> (Server, PathBuf) {
    let dir = root().join("target/e2e/data_rights").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    soda_cutout_server::service::sample::ensure(&data).unwrap();
    soda_cutout_server::service::sample::write_image(&data.join("deep-field.fits"), 256, 10.68, 41.27, 1.0 / 3600.0).unwrap();
    std::fs::write(data.join("proprietary.txt"), "# dataset   groups\ndeep-field  survey-team\n").unwrap();
    let tokens = dir.join("tokens");
    std::fs::write(&tokens, "tok-alice alice survey-team,staff\ntok-bob bob staff\n").unwrap();
    let server = Server::start(&built("soda-cutout-server"), &["--data-dir", data.to_str().unwrap(), "--auth-tokens", tokens.to_str().unwrap()]);
    (server, data)
}

const ALICE: (&str, &str) = ("authorization", "Bearer tok-alice");
const BOB: (&str, &str) = ("authorization", "Bearer tok-bob");
const FORM: (&str, &str) = ("content-type", "application/x-www-form-urlencoded");
const DEEP: &str = "/soda/sync?ID=deep-field&CIRCLE=10.68%2041.27%200.01";

fn get(server: &Server, target: &str, headers: &[(&str, &str)]) -> Response {
    http(&server.addr, "GET", target, headers, b"")
}

/// Creates and runs a job of `body` as `headers` say, waits for it to end; its path and document.
fn job(server: &Server, headers: &[(&str, &str)], body: &str) -> (String, String) {
    let mut all = headers.to_vec();
    all.push(FORM);
    let created = http(&server.addr, "POST", "/soda/async", &all, format!("{body}&PHASE=RUN").as_bytes());
    assert_eq!(created.status, 303, "{}", created.text());
    let path = created.header("location").unwrap().trim_start_matches(&format!("http://{}", server.addr)).to_owned();
    for _ in 0..20 {
        let document = get(server, &format!("{path}?WAIT=30"), headers).text();
        if !document.contains(">QUEUED<") && !document.contains(">EXECUTING<") && !document.contains(">PENDING<") {
            return (path, document);
        }
    }
    panic!("job {path} did not end");
}

/// The rows of a DataLink document's links table, each a map from column name to cell text.
fn link_rows(document: &str) -> Vec<HashMap<&str, &str>> {
    let names: Vec<&str> = document.split("<FIELD name=\"").skip(1).map(|f| &f[..f.find('"').unwrap()]).collect();
    let rows = document.split("<TR>").skip(1).map(|tr| &tr[..tr.find("</TR>").expect("a closed row")]);
    rows.map(|tr| names.iter().copied().zip(tr.split("<TD>").skip(1).map(|td| &td[..td.find("</TD>").unwrap()])).collect()).collect()
}

/// DataLink 1.1's `link_auth` and `link_authorized` of each row, with the row's ID and semantics.
fn link_auth(document: &str) -> Vec<[&str; 4]> {
    link_rows(document).iter().map(|row| ["ID", "semantics", "link_auth", "link_authorized"].map(|c| row[c])).collect()
}

/// The path of the first result of a job document.
fn result_path(server: &Server, document: &str) -> String {
    let start = document.find("xlink:href=\"").expect("a result") + "xlink:href=\"".len();
    let url = &document[start..start + document[start..].find('"').unwrap()];
    url.trim_start_matches(&format!("http://{}", server.addr)).to_owned()
}

#[test]
fn a_proprietary_dataset_is_cut_linked_and_run_for_members_only() {
    let (server, data) = start("members");

    // Sync: a member is served; an identity in no group of the dataset 403, anonymous 401.
    let alices = get(&server, DEEP, &[ALICE]);
    assert_eq!((alices.status, alices.header("x-vo-authenticated")), (200, Some("alice")), "{}", alices.text());
    assert!(alices.body.starts_with(b"SIMPLE  =                    T"), "a FITS file");
    let bobs = get(&server, DEEP, &[BOB]);
    soda_error(&bobs, 403, "AuthorizationError");
    assert_eq!(bobs.header("x-vo-authenticated"), Some("bob"));
    assert!(bobs.text().contains("dataset `deep-field` is proprietary to survey-team, and `bob` is a member of none"), "{}", bobs.text());
    let anonymous = get(&server, DEEP, &[]);
    soda_error(&anonymous, 401, "AuthenticationError");
    assert!(anonymous.header("www-authenticate").is_some_and(|c| c.contains("Bearer")), "{:?}", anonymous.headers);
    // The same by POST (DALI-sync), and the DID of the dataset is the same dataset.
    let posted = http(&server.addr, "POST", "/soda/sync", &[BOB, FORM], b"ID=deep-field&CIRCLE=10.68+41.27+0.01");
    soda_error(&posted, 403, "AuthorizationError");
    // Public data is everyone's.
    assert_eq!(get(&server, "/soda/sync?ID=sample-image&CIRCLE=10.68%2041.27%200.01", &[]).status, 200);
    assert_eq!(get(&server, "/soda/sync?ID=sample-image&CIRCLE=10.68%2041.27%200.01", &[BOB]).status, 200);

    // DataLink: the member gets the dataset's links, others a fault row in its place; the public
    // dataset's rows are there for all.
    // DataLink 1.1's link_auth and link_authorized say, row by row, that the proprietary
    // dataset's links need authentication and whether this caller may use them; a public one's
    // take anyone; an ID that names nothing says nothing.
    let links = "/soda/links?ID=deep-field&ID=sample-image";
    let members = get(&server, links, &[ALICE]).text();
    assert!(!members.contains("Fault"), "{members}");
    assert_eq!(
        link_auth(&members),
        [
            ["deep-field", "#this", "true", "true"],
            ["deep-field", "#cutout", "true", "true"],
            ["sample-image", "#this", "optional", "true"],
            ["sample-image", "#cutout", "optional", "true"]
        ],
        "{members}"
    );
    assert!(members.contains(&format!("<TD>http://{}/soda/sync?ID=deep-field</TD>", server.addr)), "the dataset's own link: {members}");
    assert_eq!(members.matches("<TD>#cutout</TD>").count(), 2, "a SODA descriptor each: {members}");
    let others = get(&server, links, &[BOB]);
    assert_eq!(others.status, 200);
    let others = others.text();
    assert!(others.contains("<TD>DefaultFault: AuthorizationError: dataset `deep-field` is proprietary to survey-team, and `bob` is a member of none</TD>"), "{others}");
    assert_eq!(others.matches("Fault").count(), 1, "one row refused, the public one's served: {others}");
    assert_eq!(
        link_auth(&others),
        [["deep-field", "#this", "true", "false"], ["sample-image", "#this", "optional", "true"], ["sample-image", "#cutout", "optional", "true"]],
        "{others}"
    );
    let strangers = get(&server, &format!("{links}&ID=no-such-dataset"), &[]).text();
    assert!(strangers.contains("<TD>DefaultFault: AuthenticationError: dataset `deep-field` is proprietary: authenticate as a member of survey-team</TD>"), "{strangers}");
    assert_eq!(link_auth(&strangers)[0], ["deep-field", "#this", "true", "false"], "{strangers}");
    assert_eq!(link_auth(&strangers)[3], ["no-such-dataset", "#this", "", ""], "{strangers}");
    // The document with the fault row is still one DataLink's validator accepts.
    let file = root().join("target/e2e/data_rights/members/refused-links.xml");
    std::fs::write(&file, &others).unwrap();
    let lint = Command::new("stilts").arg("datalinklint").arg(format!("votable={}", file.display())).output().expect("stilts is installed (cargo xtask ci installs it)");
    let report = format!("{}{}", String::from_utf8_lossy(&lint.stdout), String::from_utf8_lossy(&lint.stderr));
    assert!(report.contains("Totals: Errors: 0;") && report.contains("Failures: 0"), "datalinklint:\n{report}");

    // Async: the job runs as the identity that created it.
    let (alice_job, done) = job(&server, &[ALICE], "ID=deep-field&CIRCLE=10.68+41.27+0.01");
    assert!(done.contains("<uws:phase>COMPLETED</uws:phase>") && done.contains("<uws:ownerId>alice</uws:ownerId>"), "{done}");
    let result = result_path(&server, &done);
    let fetched = get(&server, &result, &[ALICE]);
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.body, alices.body, "the job's cutout is the sync cutout");
    assert_eq!(get(&server, &result, &[BOB]).status, 404, "another identity does not reach the member's results");
    assert_eq!(get(&server, &alice_job, &[]).status, 404);
    let (bob_job, failed) = job(&server, &[BOB], "ID=sample-image&ID=deep-field&CIRCLE=10.68+41.27+0.01");
    assert!(failed.contains("<uws:phase>ERROR</uws:phase>") && !failed.contains("xlink:href"), "no cutout at all, not even the public one's: {failed}");
    let error = get(&server, &format!("{bob_job}/error"), &[BOB]).text();
    assert!(error.starts_with("AuthorizationError: dataset `deep-field` is proprietary to survey-team, and `bob` is a member of none"), "{error}");
    let (anonymous_job, failed) = job(&server, &[], "ID=deep-field&CIRCLE=10.68+41.27+0.01");
    assert!(failed.contains("<uws:phase>ERROR</uws:phase>"), "{failed}");
    assert!(get(&server, &format!("{anonymous_job}/error"), &[]).text().starts_with("AuthenticationError: "));

    // Rights granted while the server runs: bob's group is added.
    std::fs::write(data.join("proprietary.txt"), "deep-field survey-team staff\n").unwrap();
    let granted = get(&server, DEEP, &[BOB]);
    assert_eq!((granted.status, granted.body == alices.body), (200, true), "{}", granted.text());
    assert_eq!(get(&server, DEEP, &[]).status, 401, "still not for anonymous callers");
    // A policy that cannot be read refuses every dataset, public ones too, until it is fixed.
    std::fs::write(data.join("proprietary.txt"), "deep-field\n").unwrap();
    let broken = get(&server, "/soda/sync?ID=sample-image&CIRCLE=10.68%2041.27%200.01", &[ALICE]);
    soda_error(&broken, 503, "ServiceUnavailable");
    assert!(broken.text().contains("line 1: dataset `deep-field` has no groups"), "{}", broken.text());
    std::fs::write(data.join("proprietary.txt"), "deep-field survey-team\n").unwrap();
    assert_eq!(get(&server, DEEP, &[ALICE]).status, 200);
    assert_eq!(get(&server, DEEP, &[BOB]).status, 403);
}

#[test]
fn a_policy_that_cannot_be_read_stops_the_server_at_start() {
    let dir = root().join("target/e2e/data_rights/broken");
    let _ = std::fs::remove_dir_all(&dir);
    let data = dir.join("data");
    soda_cutout_server::service::sample::ensure(&data).unwrap();
    std::fs::write(data.join("proprietary.txt"), "sample-image\n").unwrap();
    let out = Command::new(built("soda-cutout-server")).args(["--data-dir", data.to_str().unwrap(), "--bind", "127.0.0.1:0"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("proprietary.txt: line 1: dataset `sample-image` has no groups"), "{stderr}");
}
