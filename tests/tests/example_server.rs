//! The README's run command: the example server, built and started as a real process, answers on
//! a real socket; validation failures are 400s naming the parameter.

use ivoagen_e2e::{Server, cargo, http, root, target_dir};

#[test]
fn the_example_server_serves_validates_and_stops() {
    let build = cargo(&root()).args(["build", "--quiet", "-p", "example-server"]).output().unwrap();
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    let server = Server::start(&target_dir().join("debug/example-server"), &["--base-path", "/archive"]);
    assert!(server.pid() > 0);

    let doc = http(&server.addr, "GET", "/archive/openapi.json", &[], b"");
    assert_eq!(doc.status, 200);
    assert_eq!(doc.header("content-type"), Some("application/json"));
    assert!(doc.text().contains("\"title\": \"Observation Archive\""), "{}", doc.text());

    let ok = http(&server.addr, "GET", "/archive/observations?collection=hst&collection=jwst&maxrec=5", &[], b"");
    assert_eq!(ok.status, 501, "the scaffold answers 501 until implemented: {}", ok.text());

    let bad = http(&server.addr, "GET", "/archive/observations?maxrec=-1", &[], b"");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("\"parameter\":\"maxrec\"") && bad.text().contains("\"error\":\"minimum\""), "{}", bad.text());

    let form = http(
        &server.addr,
        "POST",
        "/archive/observations",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        b"collection=hst&target=",
    );
    assert_eq!(form.status, 400, "{}", form.text());
    assert!(form.text().contains("\"parameter\":\"body.target\""), "{}", form.text());

    let missing = http(&server.addr, "GET", "/archive/nowhere", &[], b"");
    assert_eq!(missing.status, 404);
}
