//! Both crates are ready for crates.io: `cargo publish --dry-run` packages each one and builds the
//! package on its own (metadata, licence, readme, every file it needs inside it).

use ivoagen_e2e::{cargo, root};

#[test]
fn ivoagen_runtime_and_ivoagen_pass_cargo_publish_dry_run() {
    for package in ["ivoagen-runtime", "ivoagen"] {
        // `--allow-dirty`: the check is about the package, not about the state of a working copy.
        let out = cargo(&root()).args(["publish", "--dry-run", "--allow-dirty", "-p", package]).output().expect("cargo runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "cargo publish --dry-run -p {package} failed:\n{stderr}");
        assert!(stderr.contains(&format!("Verifying {package} v")), "{stderr}");
        assert!(stderr.contains("aborting upload due to dry run"), "{stderr}");
        let warnings: Vec<&str> = stderr.lines().filter(|l| l.starts_with("warning:") && !l.contains("aborting upload due to dry run")).collect();
        assert!(warnings.is_empty(), "cargo publish warns about {package}:\n{}", warnings.join("\n"));
    }
    // The generator's package carries the starting specs of `ivoagen init`.
    let out = cargo(&root()).args(["package", "--list", "--allow-dirty", "-p", "ivoagen"]).output().expect("cargo runs");
    let listed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for spec in ["dali", "vosi", "uws", "soda", "scs", "sia", "ssa", "datalink"] {
        assert!(listed.lines().any(|l| l == format!("specs/{spec}.yaml")), "specs/{spec}.yaml is not in the ivoagen package:\n{listed}");
    }
}
