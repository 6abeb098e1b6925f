//! The cutout core of the bundled SODA server, through a real server process: pyvo and astropy as
//! clients, CFITSIO's `imcopy` as the reference for pixels, astropy's `all_world2pix` as the
//! reference for world coordinates, and every error case of SODA §5.

use ivoagen_e2e::{Response, Server, built, http, python, root, soda_error};
use ivoagen_runtime::codegen::serde_json::{self, json};
use soda_cutout_server::service::{fits, sample, wcs};
use std::path::PathBuf;
use std::process::{Command, Stdio};

fn binary() -> PathBuf {
    built("soda-cutout-server")
}

/// A data directory with the samples and a FITS image without any WCS.
fn data_dir(name: &str) -> PathBuf {
    let data = root().join("target/e2e/data").join(name);
    let _ = std::fs::remove_dir_all(&data);
    sample::ensure(&data).unwrap();
    let header = fits::Header::from_cards(
        [("SIMPLE", "T"), ("BITPIX", "16"), ("NAXIS", "2"), ("NAXIS1", "10"), ("NAXIS2", "10")].map(|(k, v)| fits::value_card(k, v, None)),
    );
    fits::write_image(&data.join("plain.fits"), &header, &[0u8; 200]).unwrap();
    // A Spitzer IRAC header with SIP distortion (tests/fits/PROVENANCE.md), over 256 × 256 pixels
    // each holding its own position (x + 1000 y, big-endian float32).
    let irac = std::fs::read(root().join("tests/fits/sip/irac_sip.hdr")).unwrap();
    let pixels: Vec<u8> = (1..=256).flat_map(|y| (1..=256).flat_map(move |x| ((x + 1000 * y) as f32).to_be_bytes())).collect();
    fits::write_image(&data.join("irac-sip.fits"), &header_of(&irac), &pixels).unwrap();
    // A real multi-extension file: HST WFPC2, four SCI extensions, the first without celestial axes.
    std::fs::copy(root().join("tests/fits/test0.fits"), data.join("test0.fits")).unwrap();
    // A real tile-compressed image (RICE_1).
    std::fs::copy(root().join("tests/fits/comp.fits"), data.join("comp.fits")).unwrap();
    data
}

fn start(name: &str, args: &[&str]) -> (Server, PathBuf) {
    let data = data_dir(name);
    let mut all = vec!["--data-dir", data.to_str().unwrap()];
    all.extend_from_slice(args);
    (Server::start(&binary(), &all), data)
}

/// Runs a script of `tests/pyvo` with `input` on its stdin and reads its stdout as JSON.
fn python_json(script: &str, input: &[u8]) -> serde_json::Value {
    let mut child = Command::new(python()).arg(root().join(script)).stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{script} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{script} printed no JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn get(server: &Server, target: &str) -> Response {
    http(&server.addr, "GET", target, &[], b"")
}

/// Creates an async job of `form` with PHASE=RUN and waits until it has ended: its path and its
/// last job document.
fn finished_job(server: &Server, form: &[u8]) -> (String, String) {
    let created = http(&server.addr, "POST", "/soda/async?PHASE=RUN", &[("Content-Type", "application/x-www-form-urlencoded")], form);
    assert_eq!(created.status, 303, "{}", created.text());
    let job = created.header("location").unwrap().trim_start_matches(&format!("http://{}", server.addr)).to_owned();
    let mut document = String::new();
    for _ in 0..30 {
        document = get(server, &format!("{job}?WAIT=-1")).text();
        if !document.contains("<uws:phase>QUEUED</uws:phase>") && !document.contains("<uws:phase>EXECUTING</uws:phase>") {
            break;
        }
    }
    (job, document)
}

#[test]
fn pyvo_and_astropy_use_the_cutouts() {
    let (server, _) = start("pyvo-cutouts", &[]);
    let out = Command::new(python()).arg(root().join("tests/pyvo/soda_cutouts.py")).arg(format!("http://{}/soda", server.addr)).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "pyvo failed:\n{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    for check in ["sync circle centre", "band: WAVE axis 5 long", "pol: STOKES axis 2 long", "time: inside", "cube circle centre", "datalink: processed()", "async: one result", "async: 4 combinations", "multi-extension: SCI 2, 3, 4 cut"] {
        assert!(stdout.contains(check), "`{check}` missing from:\n{stdout}");
    }
}

/// The header of a FITS file as cards, up to END.
fn header_of(bytes: &[u8]) -> fits::Header {
    let cards = bytes.chunks(fits::CARD).map(|c| String::from_utf8_lossy(c).into_owned()).take_while(|c| !c.starts_with("END "));
    fits::Header::from_cards(cards.collect::<Vec<_>>())
}

/// The length of the data an HDU's header describes, without padding.
fn data_len(header: &fits::Header) -> usize {
    let naxis = header.number("NAXIS").unwrap_or(0.0) as usize;
    if naxis == 0 {
        return 0;
    }
    (1..=naxis).map(|i| header.number(&format!("NAXIS{i}")).unwrap_or(0.0) as usize).product::<usize>() * (header.number("BITPIX").unwrap_or(8.0).abs() as usize / 8)
}

/// The data of the first HDU of a FITS file, without padding.
fn data_of(bytes: &[u8], header: &fits::Header) -> Vec<u8> {
    let start = fits::padded((header.cards().len() + 1) * fits::CARD);
    bytes[start..start + data_len(header)].to_vec()
}

#[test]
fn cutouts_are_pixel_for_pixel_cfitsio_imcopy() {
    let (server, data) = start("imcopy", &[]);
    let work = root().join("target/e2e/imcopy");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    // Each request, and the same region as astropy's input (tests/pyvo/cutout_box.py).
    let cases = [
        ("sample-image", "CIRCLE=10.70+41.26+0.02", json!({"circle": [10.70, 41.26, 0.02]})),
        ("sample-image", "POLYGON=10.66+41.25+10.70+41.25+10.69+41.29", json!({"polygon": [10.66, 41.25, 10.70, 41.25, 10.69, 41.29]})),
        ("sample-image", "POS=RANGE+10.6+10.7+41.2+41.3", json!({"range": [10.6, 10.7, 41.2, 41.3]})),
        ("sample-image", "CIRCLE=10.60+41.20+0.1", json!({"circle": [10.60, 41.20, 0.1]})),
        ("sample-cube", "CIRCLE=83.82+-5.39+0.1&BAND=5.1e-7+5.3e-7&POL=Q&POL=U", json!({"circle": [83.82, -5.39, 0.1], "band": [5.1e-7, 5.3e-7], "pol": ["Q", "U"]})),
        ("sample-cube", "POS=CIRCLE+83.9+-5.3+0.05&POL=V", json!({"circle": [83.9, -5.3, 0.05], "pol": ["V"]})),
        ("sample-image", "CIRCLE=10.713+41.281+0.00517", json!({"circle": [10.713, 41.281, 0.00517]})),
        ("sample-image", "CIRCLE=10.6521+41.2234+0.0333", json!({"circle": [10.6521, 41.2234, 0.0333]})),
        ("sample-image", "POLYGON=10.65+41.24+10.72+41.23+10.73+41.30+10.66+41.31", json!({"polygon": [10.65, 41.24, 10.72, 41.23, 10.73, 41.30, 10.66, 41.31]})),
        ("sample-cube", "POS=RANGE+83.75+83.85+-5.45+-5.33&BAND=5.02e-7+5.17e-7", json!({"range": [83.75, 83.85, -5.45, -5.33], "band": [5.02e-7, 5.17e-7]})),
        ("sample-cube", "CIRCLE=83.8017+-5.4122+0.0712&POL=I", json!({"circle": [83.8017, -5.4122, 0.0712], "pol": ["I"]})),
        // SIP: near two corners of the IRAC detector, where the distortion moves the sky by a pixel.
        ("irac-sip", "CIRCLE=6.19934695+-2.08790557+0.004", json!({"circle": [6.19934695, -2.08790557, 0.004]})),
        ("irac-sip", "POLYGON=6.1050+-2.0560+6.1080+-2.0560+6.1060+-2.0520", json!({"polygon": [6.1050, -2.0560, 6.1080, -2.0560, 6.1060, -2.0520]})),
    ];
    // The box of each cutout, computed from the request alone by astropy's WCS, not by the server.
    let input: Vec<serde_json::Value> = cases
        .iter()
        .map(|(id, _, region)| {
            let mut case = region.clone();
            case["file"] = json!(data.join(format!("{id}.fits")));
            case
        })
        .collect();
    let boxes: Vec<Vec<(usize, usize)>> = serde_json::from_value(python_json("tests/pyvo/cutout_box.py", &serde_json::to_vec(&input).unwrap())).unwrap();
    for (n, ((id, filters, _), expected)) in cases.iter().zip(&boxes).enumerate() {
        let response = get(&server, &format!("/soda/sync?ID={id}&{filters}"));
        assert_eq!(response.status, 200, "{filters}: {}", response.text());
        assert_eq!(response.header("content-type"), Some("application/fits"));
        assert_eq!(response.body.len() % fits::BLOCK, 0, "a FITS file is whole blocks");
        let ours = header_of(&response.body);
        let section: Vec<String> = expected.iter().map(|(first, last)| format!("{first}:{last}")).collect();
        let out = work.join(format!("{n}.fits"));
        let status = Command::new("imcopy")
            .arg(format!("{}[{}]", data.join(format!("{id}.fits")).display(), section.join(",")))
            .arg(&out)
            .stdout(Stdio::null())
            .status()
            .expect("imcopy runs (`cargo xtask ci` installs libcfitsio-bin)");
        assert!(status.success(), "imcopy failed for {filters}");
        let theirs_bytes = std::fs::read(&out).unwrap();
        let theirs = header_of(&theirs_bytes);
        // The server's box is astropy's, and its header's WCS is CFITSIO's for that box.
        for i in 1..=expected.len() {
            for key in [format!("NAXIS{i}"), format!("CRPIX{i}")] {
                assert_eq!(ours.number(&key), theirs.number(&key), "{filters}: {key} (expected box [{}])", section.join(","));
            }
        }
        assert_eq!(data_of(&response.body, &ours), data_of(&theirs_bytes, &theirs), "{filters}: pixels differ from imcopy [{}]", section.join(","));
    }
}

#[test]
fn world_to_pixel_matches_astropy() {
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    for projection in ["TAN", "SIN", "ARC", "STG", "ZEA"] {
        for (crval, rotation, scale) in [((10.68, 41.27), 0.0, 1.0 / 3600.0), ((250.0, -60.0), 33.0, 0.01), ((0.0, 89.9), -120.0, 0.002), ((359.9, -0.2), 0.0, 0.05)] {
            let (rho, s): (f64, f64) = (f64::to_radians(rotation), scale);
            let cards: Vec<String> = [
                ("CTYPE1", fits::quoted(&format!("RA---{projection}"))),
                ("CTYPE2", fits::quoted(&format!("DEC--{projection}"))),
                ("CRPIX1", "400.5".to_owned()),
                ("CRPIX2", "300".to_owned()),
                ("CRVAL1", crval.0.to_string()),
                ("CRVAL2", crval.1.to_string()),
                ("CD1_1", (-s * rho.cos()).to_string()),
                ("CD1_2", (s * rho.sin()).to_string()),
                ("CD2_1", (s * rho.sin()).to_string()),
                ("CD2_2", (s * rho.cos()).to_string()),
                ("RADESYS", fits::quoted("ICRS")),
            ]
            .iter()
            .map(|(k, v)| fits::value_card(k, v, None))
            .collect();
            let header = fits::Header::from_cards(cards.clone());
            let celestial = wcs::Wcs::from_header(&header, 2).celestial.unwrap();
            // World points spread over ±250 pixels around the reference.
            let mut world = Vec::new();
            for i in -5..=5 {
                for j in -5..=5 {
                    if let Some(p) = celestial.pixel_to_world(400.5 + 50.0 * i as f64 + 0.3, 300.0 + 50.0 * j as f64 - 0.7) {
                        world.push(p);
                    }
                }
            }
            ours.push(world.iter().map(|&(l, b)| celestial.world_to_pixel(l, b).unwrap()).collect::<Vec<_>>());
            cases.push(json!({ "cards": cards, "world": world.iter().map(|&(l, b)| [l, b]).collect::<Vec<_>>() }));
        }
    }
    let theirs: Vec<Vec<(f64, f64)>> = serde_json::from_value(python_json("tests/pyvo/world2pix.py", &serde_json::to_vec(&cases).unwrap())).unwrap();
    assert_eq!(theirs.len(), ours.len());
    let mut worst = 0.0f64;
    for (case, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        assert_eq!(a.len(), b.len());
        assert!(a.len() >= 100, "case {case}: {} points", a.len());
        for (p, q) in a.iter().zip(b) {
            let d = (p.0 - q.0).hypot(p.1 - q.1);
            worst = worst.max(d);
            assert!(d < 1e-6, "case {case}: ours {p:?}, astropy {q:?}");
        }
    }
    eprintln!("world_to_pixel vs astropy all_world2pix: worst difference {worst:e} pixels");
}

/// A whole-file gzip (`NAME.fits.gz`) is served as `ID=NAME`, decompressed as it is read: its
/// cutouts are byte for byte those of the same file uncompressed, sync and async; a gzip file cut
/// short is damaged data (500 `Error`), not a missing dataset.
#[test]
fn gzip_files_are_served_by_their_name_decompressed_as_they_are_read() {
    let (server, data) = start("gzip", &[]);
    let gzip = |from: &str, to: &str| {
        let out = Command::new("gzip").arg("-c").arg(data.join(from)).output().expect("gzip runs");
        assert!(out.status.success());
        std::fs::write(data.join(to), &out.stdout).unwrap();
        out.stdout
    };
    gzip("sample-image.fits", "image-gz.fits.gz");
    gzip("sample-cube.fits", "cube-gz.fits.gz");
    for (plain, gz, filters) in [
        ("sample-image", "image-gz", "CIRCLE=10.70+41.26+0.02"),
        ("sample-image", "image-gz", "POS=RANGE+10.6+10.7+41.2+41.3"),
        ("sample-cube", "cube-gz", "CIRCLE=83.82+-5.39+0.1&BAND=5.1e-7+5.3e-7&POL=Q&POL=U"),
        ("sample-cube", "cube-gz", "POL=V"),
    ] {
        let expected = get(&server, &format!("/soda/sync?ID={plain}&{filters}"));
        let answer = get(&server, &format!("/soda/sync?ID={gz}&{filters}"));
        assert_eq!((answer.status, answer.header("content-type")), (200, Some("application/fits")), "{gz} {filters}: {}", answer.text());
        assert!(answer.body == expected.body, "{gz} {filters}: not the bytes of the uncompressed file's cutout");
    }
    // Async: one result per cutout, the same bytes.
    let (job, document) = finished_job(&server, b"ID=image-gz&CIRCLE=10.70+41.26+0.02");
    assert!(document.contains("<uws:phase>COMPLETED</uws:phase>"), "{document}");
    let result = get(&server, &format!("{job}/results/cutout-1.fits"));
    assert!(result.body == get(&server, "/soda/sync?ID=sample-image&CIRCLE=10.70+41.26+0.02").body, "the async cutout of the gzip file");
    // Cut short: the header reads, the pixels of the image's top rows do not (a small cutout,
    // built before it is sent; a large one is streamed, so its status is sent before its pixels).
    let whole = gzip("sample-image.fits", "short-gz.fits.gz");
    std::fs::write(data.join("short-gz.fits.gz"), &whole[..whole.len() / 2]).unwrap();
    assert_eq!(get(&server, "/soda/sync?ID=short-gz&CIRCLE=10.68+41.14+0.005").status, 200, "the bottom rows decompress");
    soda_error(&get(&server, "/soda/sync?ID=short-gz&CIRCLE=10.68+41.40+0.005"), 500, "Error");
    // Not gzip at all behind the name: damaged, not missing.
    std::fs::write(data.join("bad-gz.fits.gz"), b"not a gzip stream at all").unwrap();
    soda_error(&get(&server, "/soda/sync?ID=bad-gz&CIRCLE=10.68+41.27+0.2"), 500, "Error");
}

/// Each HDU of a FITS file: its header and its data (unpadded).
fn hdus_of(bytes: &[u8]) -> Vec<(fits::Header, Vec<u8>)> {
    let mut hdus = Vec::new();
    let mut at = 0;
    while at + fits::BLOCK <= bytes.len() {
        let header = header_of(&bytes[at..]);
        let data = data_of(&bytes[at..], &header);
        at += fits::padded((header.cards().len() + 1) * fits::CARD) + fits::padded(data.len());
        hdus.push((header, data));
    }
    hdus
}

/// A multi-extension file (HST WFPC2, `tests/fits/test0.fits`) is cut extension by extension:
/// the extensions with celestial axes that the region meets, each to astropy's box for it and
/// pixel for pixel CFITSIO's `imcopy` of that extension's section, after the file's primary
/// header; EXTNAME and EXTVER kept; the extension without celestial axes left out.
#[test]
fn multi_extension_files_are_cut_extension_by_extension() {
    let (server, data) = start("multi-extension", &[]);
    let work = root().join("target/e2e/multi-extension");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let file = data.join("test0.fits");
    for (circle, region) in [("215.5905+-12.7352+0.0005", [215.5905, -12.7352, 0.0005]), ("215.5915+-12.7350+0.0002", [215.5915, -12.7350, 0.0002])] {
        let response = get(&server, &format!("/soda/sync?ID=test0&CIRCLE={circle}"));
        assert_eq!((response.status, response.header("content-type")), (200, Some("application/fits")), "{}", response.text());
        let hdus = hdus_of(&response.body);
        let original = hdus_of(&std::fs::read(&file).unwrap());
        assert_eq!(hdus[0].0.cards(), original[0].0.cards(), "the file's primary header, as it was");
        let cut: Vec<usize> = hdus[1..].iter().map(|(h, _)| h.number("EXTVER").unwrap() as usize).collect();
        assert!(!cut.is_empty() && !cut.contains(&1), "SCI 1 has no celestial axes: {cut:?}");
        // astropy's box on each extension with celestial axes: those it meets are those cut.
        let input: Vec<serde_json::Value> = (2..=4).map(|v| json!({"file": file, "hdu": v, "circle": region})).collect();
        let all: Vec<Vec<Option<(usize, usize)>>> = serde_json::from_value(python_json("tests/pyvo/cutout_box.py", &serde_json::to_vec(&input).unwrap())).unwrap();
        let met: Vec<usize> = (2..=4).zip(&all).filter(|(_, b)| b.iter().all(Option::is_some)).map(|(v, _)| v).collect();
        assert_eq!(cut, met, "the extensions astropy finds the region on");
        let boxes: Vec<&Vec<Option<(usize, usize)>>> = cut.iter().map(|&v| &all[v - 2]).collect();
        for ((header, pixels), (&v, expected)) in hdus[1..].iter().zip(cut.iter().zip(boxes)) {
            assert_eq!((header.text("XTENSION").as_deref(), header.text("EXTNAME").as_deref()), (Some("IMAGE"), Some("SCI")));
            let expected: Vec<(usize, usize)> = expected.iter().map(|b| b.expect("astropy meets the extension too")).collect();
            let section: Vec<String> = expected.iter().map(|(first, last)| format!("{first}:{last}")).collect();
            let out = work.join(format!("{circle}-{v}.fits"));
            let status = Command::new("imcopy").arg(format!("{}[{v}][{}]", file.display(), section.join(","))).arg(&out).stdout(Stdio::null()).status().expect("imcopy runs");
            assert!(status.success());
            let theirs = hdus_of(&std::fs::read(&out).unwrap());
            for key in ["NAXIS1", "NAXIS2", "CRPIX1", "CRPIX2"] {
                assert_eq!(header.number(key), theirs[0].0.number(key), "SCI {v}: {key} (astropy's box [{}])", section.join(","));
            }
            assert!(*pixels == theirs[0].1, "SCI {v}: pixels differ from imcopy [{}]", section.join(","));
        }
    }
    // Outside every extension: no content.
    assert_eq!(get(&server, "/soda/sync?ID=test0&CIRCLE=10+10+0.001").status, 204);
}

/// Tile-compressed images, as `fpack` writes them: a real RICE_1 file (`tests/fits/comp.fits`);
/// an int16 image fpacked with RICE_1 (row tiles and 64 × 48 tiles), GZIP_1, GZIP_2 and
/// HCOMPRESS_1 (lossless, in 64 × 48 tiles, lossy with scale 4, and that file with `SMOOTH = 1`);
/// the same pixels as int32 (RICE_1, GZIP_2, HCOMPRESS_1 lossless and lossy, smoothed) and as
/// uint8 (RICE_1, GZIP_1, HCOMPRESS_1); a non-negative one with PLIO_1; the float32 sample
/// quantized with each dither, gzipped losslessly and HCOMPRESSed; the sample as float64, quantized
/// under RICE_1, GZIP_2 and HCOMPRESS_1 and gzipped losslessly both ways. Each is cut to astropy's
/// box and is pixel for pixel (bit for bit for floats) CFITSIO's section copy of the compressed
/// file. A compression this server does not know is refused with 501 saying so.
#[test]
fn tile_compressed_images_are_cut_as_cfitsio_copies_their_sections() {
    let (server, data) = start("tiles", &[]);
    let work = root().join("target/e2e/tiles");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    // An int16 image, 300 × 200, TAN at 1 arcsecond near M31, with negative values too.
    let header = fits::Header::from_cards(
        [
            ("SIMPLE", "T".to_owned()),
            ("BITPIX", "16".into()),
            ("NAXIS", "2".into()),
            ("NAXIS1", "300".into()),
            ("NAXIS2", "200".into()),
            ("CTYPE1", fits::quoted("RA---TAN")),
            ("CTYPE2", fits::quoted("DEC--TAN")),
            ("CRPIX1", "150.5".into()),
            ("CRPIX2", "100.5".into()),
            ("CRVAL1", "10.68".into()),
            ("CRVAL2", "41.27".into()),
            ("CD1_1", (-1.0f64 / 3600.0).to_string()),
            ("CD2_2", (1.0f64 / 3600.0).to_string()),
            ("RADESYS", fits::quoted("ICRS")),
        ]
        .iter()
        .map(|(k, v)| fits::value_card(k, v, None)),
    );
    let pixels: Vec<u8> = (0..200i32).flat_map(|y| (0..300i32).flat_map(move |x| (((x * 37 + y * 101) % 4000 - 2000 + (x * y) % 17) as i16).to_be_bytes())).collect();
    fits::write_image(&work.join("int16.fits"), &header, &pixels).unwrap();
    // PLIO takes non-negative pixels only.
    let positive: Vec<u8> = pixels.chunks(2).flat_map(|p| i16::from_be_bytes([p[0], p[1]]).unsigned_abs().min(i16::MAX as u16).to_be_bytes()).collect();
    fits::write_image(&work.join("positive.fits"), &header, &positive).unwrap();
    // The same pixels as int32, spread over 28 bits, and as uint8.
    let int16 = |p: &[u8]| i16::from_be_bytes([p[0], p[1]]) as i32;
    let wide: Vec<u8> = pixels.chunks(2).enumerate().flat_map(|(i, p)| (int16(p) * 100_003 + (i as i32 % 300) * 7).to_be_bytes()).collect();
    let narrow: Vec<u8> = pixels.chunks(2).map(|p| (int16(p).rem_euclid(4000) / 16) as u8).collect();
    for (bitpix, name, data) in [(32.0, "int32.fits", &wide), (8.0, "uint8.fits", &narrow)] {
        let mut header = header.clone();
        header.set_number("BITPIX", bitpix);
        fits::write_image(&work.join(name), &header, data).unwrap();
    }
    // The float32 sample as float64.
    let sample = std::fs::read(data.join("sample-image.fits")).unwrap();
    let sample_header = fits::Header::from_cards(
        header_of(&sample).cards().iter().map(|c| if c.starts_with("BITPIX  =") { fits::value_card("BITPIX", "-64", Some("IEEE double precision")) } else { c.clone() }),
    );
    let doubles: Vec<u8> = data_of(&sample, &header_of(&sample)).chunks(4).flat_map(|p| (f32::from_be_bytes([p[0], p[1], p[2], p[3]]) as f64).to_be_bytes()).collect();
    fits::write_image(&work.join("float64.fits"), &sample_header, &doubles).unwrap();
    let fpack_from = |source: &str, args: &[&str], name: &str| {
        let out = data.join(format!("{name}.fits.fz"));
        let status = Command::new("fpack").args(args).arg("-O").arg(&out).arg(work.join(source)).status().expect("fpack runs (`cargo xtask ci` installs libcfitsio-bin)");
        assert!(status.success(), "fpack {args:?}");
        out
    };
    // A copy of fpack's output `from` with the start of one card replaced.
    let edited = |from: &str, name: &str, card: &str, with: &str| {
        let mut bytes = std::fs::read(data.join(format!("{from}.fits.fz"))).unwrap();
        let at = bytes.windows(card.len()).position(|w| w == card.as_bytes()).unwrap_or_else(|| panic!("{from} has no `{card}`"));
        bytes[at..at + with.len()].copy_from_slice(with.as_bytes());
        let out = data.join(format!("{name}.fits.fz"));
        std::fs::write(&out, bytes).unwrap();
        out
    };
    let mut cases: Vec<(PathBuf, &str)> = vec![(data.join("comp.fits"), "comp")];
    let fpacked: [(&str, &[&str], &str); 27] = [
        ("int16.fits", &["-r"], "int16-rice"),
        ("int16.fits", &["-r", "-t", "64,48"], "int16-rice-tiles"),
        ("int16.fits", &["-g"], "int16-gzip1"),
        ("int16.fits", &["-g2", "-t", "64,48"], "int16-gzip2"),
        ("int16.fits", &["-h"], "int16-hcompress"),
        ("int16.fits", &["-h", "-t", "64,48"], "int16-hcompress-tiles"),
        ("int16.fits", &["-h", "-s", "4"], "int16-hcompress-lossy"),
        ("int32.fits", &["-r"], "int32-rice"),
        ("int32.fits", &["-g2", "-t", "64,48"], "int32-gzip2"),
        ("int32.fits", &["-h"], "int32-hcompress"),
        ("int32.fits", &["-h", "-s", "4", "-t", "100,100"], "int32-hcompress-lossy"),
        ("uint8.fits", &["-r"], "uint8-rice"),
        ("uint8.fits", &["-g"], "uint8-gzip1"),
        ("uint8.fits", &["-h"], "uint8-hcompress"),
        ("positive.fits", &["-p"], "int16-plio"),
        // The float32 sample image quantized as fpack does by default (subtractive dither 1),
        // with dither 2 (zeros kept), without dither, in 100 × 100 tiles, gzipped losslessly, and
        // quantized under HCOMPRESS_1.
        ("../data/tiles/sample-image.fits", &["-q", "4"], "float-dither1"),
        ("../data/tiles/sample-image.fits", &["-qz", "4", "-t", "100,100"], "float-dither2"),
        ("../data/tiles/sample-image.fits", &["-q0", "4"], "float-nodither"),
        ("../data/tiles/sample-image.fits", &["-g", "-q", "0"], "float-lossless"),
        ("../data/tiles/sample-image.fits", &["-h"], "float-hcompress"),
        ("../data/tiles/sample-image.fits", &["-h", "-q0", "4", "-t", "100,100"], "float-hcompress-nodither"),
        // Doubles: quantized (codes and scales per tile as for floats, restored in double
        // precision), and gzipped whole, 8-byte pixels shuffled or not.
        ("float64.fits", &["-r"], "float64-rice"),
        ("float64.fits", &["-g2", "-qz", "4", "-t", "100,100"], "float64-gzip2"),
        ("float64.fits", &["-h"], "float64-hcompress"),
        ("float64.fits", &["-g", "-q", "0"], "float64-gzip1-lossless"),
        ("float64.fits", &["-g2", "-q", "0"], "float64-gzip2-lossless"),
        ("float64.fits", &["-h", "-s", "2"], "float64-hcompress-lossy"),
    ];
    for (source, args, name) in fpacked {
        cases.push((fpack_from(source, args, name), name));
    }
    // The lossy ones with SMOOTH = 1 (ZNAME2 = 'SMOOTH'): CFITSIO reads it as it decodes, though
    // fpack never sets it.
    for (lossy, name) in [("int16-hcompress-lossy", "int16-hcompress-smooth"), ("int32-hcompress-lossy", "int32-hcompress-smooth")] {
        cases.push((edited(lossy, name, "ZVAL2   =                    0", "ZVAL2   =                    1"), name));
    }
    let regions = |name: &str| -> Vec<[f64; 3]> {
        match name {
            "comp" => vec![[50.5054, -37.4766, 0.02], [50.48, -37.46, 0.05]],
            n if n.starts_with("float") => vec![[10.68, 41.27, 0.01], [10.70, 41.26, 0.004]],
            _ => vec![[10.68, 41.27, 0.01], [10.70, 41.26, 0.004], [10.66, 41.29, 0.02]],
        }
    };
    // astropy's boxes for every case at once.
    let input: Vec<serde_json::Value> = cases.iter().flat_map(|(file, id)| regions(id).into_iter().map(move |r| json!({"file": file, "hdu": 1, "circle": r}))).collect();
    let boxes: Vec<Vec<(usize, usize)>> = serde_json::from_value(python_json("tests/pyvo/cutout_box.py", &serde_json::to_vec(&input).unwrap())).unwrap();
    let mut boxes = boxes.iter();
    let mut n = 0;
    for (file, id) in &cases {
        for region in regions(id) {
            let expected = boxes.next().unwrap();
            n += 1;
            let response = get(&server, &format!("/soda/sync?ID={id}&CIRCLE={}+{}+{}", region[0], region[1], region[2]));
            assert_eq!(response.status, 200, "{id} {region:?}: {}", response.text());
            let ours = header_of(&response.body);
            let section: Vec<String> = expected.iter().map(|(first, last)| format!("{first}:{last}")).collect();
            let out = work.join(format!("{n}.fits"));
            let status = Command::new("imcopy").arg(format!("{}[1][{}]", file.display(), section.join(","))).arg(&out).stdout(Stdio::null()).status().expect("imcopy runs");
            assert!(status.success(), "imcopy {id} [{}]", section.join(","));
            let theirs_bytes = std::fs::read(&out).unwrap();
            let theirs = header_of(&theirs_bytes);
            for key in ["BITPIX", "NAXIS1", "NAXIS2", "CRPIX1", "CRPIX2", "CRVAL1", "CD1_1", "CDELT1"] {
                assert_eq!(ours.number(key), theirs.number(key), "{id} {region:?}: {key} (astropy's box [{}])", section.join(","));
            }
            assert!(data_of(&response.body, &ours) == data_of(&theirs_bytes, &theirs), "{id} {region:?}: pixels differ from imcopy [{}]", section.join(","));
        }
    }
    // What is not read says so: a compression fpack does not write (BZIP2_1, named in place of RICE_1).
    edited("int16-rice", "int16-bzip2", "ZCMPTYPE= 'RICE_1  '", "ZCMPTYPE= 'BZIP2_1 '");
    let refused = get(&server, "/soda/sync?ID=int16-bzip2&CIRCLE=10.68+41.27+0.01");
    soda_error(&refused, 501, "Error");
    assert!(refused.text().contains("ZCMPTYPE = 'BZIP2_1'"), "{}", refused.text());
    // DataLink says the same of it: the server's limit, a FatalFault.
    let links = get(&server, "/soda/links?ID=int16-bzip2").text();
    assert!(links.contains("FatalFault: dataset `int16-bzip2` cannot be cut"), "{links}");
    // And the real file's whole image, through DataLink's #this length, is what a cutout sends.
    let links = get(&server, "/soda/links?ID=comp").text();
    let whole = get(&server, "/soda/sync?ID=comp");
    assert!(links.contains(&format!("<TD>{}</TD>", whole.body.len())), "{links}");
}

/// `--async-results combined`: an async job writes every cutout as an extension of one file,
/// `cutouts.fits`, each extension's pixels those of the sync cutout (a multi-extension dataset
/// giving one extension per cut extension, with its primary's inherited keywords), and the
/// combinations that cut nothing in `errors.txt`.
#[test]
fn combined_async_results_are_one_file_of_extensions() {
    let (server, _) = start("combined", &["--async-results", "combined"]);
    let (job, document) = finished_job(&server, b"ID=sample-image&ID=test0&CIRCLE=10.70+41.26+0.02&CIRCLE=215.5905+-12.7352+0.0005");
    assert!(document.contains("<uws:phase>COMPLETED</uws:phase>"), "{document}");
    assert!(document.contains(r#"id="cutouts.fits""#) && document.contains(r#"id="errors.txt""#) && !document.contains("cutout-1"), "{document}");
    let combined = hdus_of(&get(&server, &format!("{job}/results/cutouts.fits")).body);
    let image = hdus_of(&get(&server, "/soda/sync?ID=sample-image&CIRCLE=10.70+41.26+0.02").body);
    let mef = hdus_of(&get(&server, "/soda/sync?ID=test0&CIRCLE=215.5905+-12.7352+0.0005").body);
    assert_eq!(combined.len(), 1 + 1 + 3, "a primary, the image's cutout, test0's three cut extensions");
    assert_eq!(combined[0].0.number("NAXIS"), Some(0.0));
    let expected: Vec<&Vec<u8>> = std::iter::once(&image[0].1).chain(mef[1..].iter().map(|(_, d)| d)).collect();
    for (n, ((header, pixels), want)) in combined[1..].iter().zip(expected).enumerate() {
        assert_eq!(header.text("XTENSION").as_deref(), Some("IMAGE"), "extension {n}");
        assert!(header.get("INHERIT").is_none(), "extension {n}: its keywords are its own");
        assert!(pixels == want, "extension {n}: the pixels of the sync cutout");
    }
    // test0's extensions carry the BZERO their file's primary header gave them.
    assert_eq!(combined[2].0.number("BZERO"), Some(32768.0));
    let errors = get(&server, &format!("{job}/results/errors.txt")).text();
    assert_eq!(errors.lines().count(), 2, "{errors}");
    assert!(errors.lines().all(|l| l.contains(": Error: the filters do not overlap dataset")), "{errors}");
}

/// Every header of a FITS file (or of a bare header file), HDU by HDU.
fn headers_of(bytes: &[u8]) -> Vec<fits::Header> {
    let mut headers = Vec::new();
    let mut at = 0;
    while at + fits::CARD <= bytes.len() {
        let header = header_of(&bytes[at..]);
        at += fits::padded((header.cards().len() + 1) * fits::CARD) + fits::padded(data_len(&header));
        headers.push(header);
    }
    headers
}

/// SIP distortion on real instrument headers (Spitzer IRAC, HST ACS/WFC, astropy's SIP tests;
/// `tests/fits/PROVENANCE.md`): world → pixel as astropy's `all_world2pix` solves it, and pixel
/// → world back, over each detector.
#[test]
fn sip_world_to_pixel_matches_astropy_on_instrument_headers() {
    let mut cases = Vec::new();
    let mut ours = Vec::new();
    let mut shifts = Vec::new();
    for file in ["irac_sip.hdr", "j94f05bgq_flt.fits", "sip.fits", "sip2.fits"] {
        let bytes = std::fs::read(root().join("tests/fits/sip").join(file)).unwrap();
        for header in headers_of(&bytes).into_iter().filter(|h| h.number("A_ORDER").is_some()) {
            let wcs = wcs::Wcs::from_header(&header, 2);
            let celestial = wcs.celestial.unwrap_or_else(|| panic!("{file}: {:?}", wcs.celestial_problem));
            // The same header without its distortion, to measure what SIP moves.
            let plain_cards: Vec<String> = header.cards().iter().filter(|c| !["A_", "B_", "AP_", "BP_"].iter().any(|k| c.starts_with(k))).map(|c| c.replace("-SIP'", "'    ")).collect();
            let plain = wcs::Wcs::from_header(&fits::Header::from_cards(plain_cards), 2).celestial.expect("TAN without SIP");
            let (cx, cy) = (header.number("CRPIX1").unwrap(), header.number("CRPIX2").unwrap());
            let mut world = Vec::new();
            let mut shift = 0.0f64;
            for i in 0..=8 {
                for j in 0..=8 {
                    let (px, py) = (0.5 + 2.0 * cx * i as f64 / 8.0, 0.5 + 2.0 * cy * j as f64 / 8.0);
                    let (lon, lat) = celestial.pixel_to_world(px, py).unwrap();
                    let (qx, qy) = plain.world_to_pixel(lon, lat).unwrap();
                    shift = shift.max((qx - px).hypot(qy - py));
                    world.push((lon, lat));
                }
            }
            shifts.push((file, shift));
            ours.push(world.iter().map(|&(l, b)| celestial.world_to_pixel(l, b).unwrap()).collect::<Vec<_>>());
            cases.push(json!({ "cards": header.cards(), "world": world.iter().map(|&(l, b)| [l, b]).collect::<Vec<_>>() }));
        }
    }
    assert_eq!(cases.len(), 5, "IRAC, two ACS chips and astropy's two SIP headers");
    let theirs: Vec<Vec<(f64, f64)>> = serde_json::from_value(python_json("tests/pyvo/world2pix.py", &serde_json::to_vec(&cases).unwrap())).unwrap();
    let mut worst = 0.0f64;
    for (case, (a, b)) in ours.iter().zip(&theirs).enumerate() {
        for (p, q) in a.iter().zip(b) {
            let d = (p.0 - q.0).hypot(p.1 - q.1);
            worst = worst.max(d);
            assert!(d < 1e-6, "case {case}: ours {p:?}, astropy {q:?}");
        }
    }
    let acs = shifts.iter().filter(|(f, _)| *f == "j94f05bgq_flt.fits").map(|(_, s)| *s).fold(0.0, f64::max);
    assert!(acs > 20.0, "SIP moves an ACS/WFC corner by tens of pixels: {shifts:?}");
    eprintln!("SIP world_to_pixel vs astropy all_world2pix: worst difference {worst:e} pixels; what SIP moves: {shifts:?}");
}

#[test]
fn every_soda_error_has_its_label_status_and_type() {
    let (server, _) = start("cutout-errors", &["--authority", "ivo://example.org/archive"]);
    // UsageError (400): a bad value, a missing ID, an unsupported format, a name that leaves the
    // directory (plain or percent-encoded), a dataset that cannot be cut by position.
    soda_error(&get(&server, "/soda/sync?ID=sample-image&CIRCLE=10+41+0"), 400, "UsageError");
    soda_error(&get(&server, "/soda/sync?CIRCLE=10+41+1"), 400, "UsageError");
    soda_error(&get(&server, "/soda/sync?ID=sample-image&RESPONSEFORMAT=text/csv"), 400, "UsageError");
    for id in ["../sample-image", "%2E%2E%2Fsample-image", "/etc/passwd", "%252e%252e%252fx", "ivo://example.org/archive?../x"] {
        soda_error(&get(&server, &format!("/soda/sync?ID={id}")), 400, "UsageError");
    }
    soda_error(&get(&server, "/soda/sync?ID=plain&CIRCLE=10+41+1"), 400, "UsageError");
    // MultiValuedParamNotSupported (400): sync makes one cutout.
    for query in [
        "ID=sample-image&ID=sample-cube",
        "ID=sample-image&CIRCLE=10+41+1&circle=10+41+2",
        "ID=sample-image&CIRCLE=10+41+1&POLYGON=10+41+11+41+11+42",
        "ID=sample-cube&BAND=5e-7+6e-7&BAND=6e-7+7e-7",
        "ID=sample-cube&TIME=1+2&TIME=3+4",
    ] {
        let response = get(&server, &format!("/soda/sync?{query}"));
        soda_error(&response, 400, "MultiValuedParamNotSupported");
        // Those the service refuses (not the parameter layer: a repeated ID) name the way out.
        let text = response.text();
        assert!(text.contains("given several") || text.contains("use the async endpoint (`async`, beside `sync`) for several cutouts"), "{text}");
    }
    // Error (404): no dataset has the ID; a DID of another authority.
    soda_error(&get(&server, "/soda/sync?ID=m31"), 404, "Error");
    soda_error(&get(&server, "/soda/sync?ID=ivo://elsewhere.org/x?sample-image"), 404, "Error");
    // A publisher DID of this authority works; no overlap is 204 with an empty body.
    let did = get(&server, "/soda/sync?ID=ivo://example.org/archive?sample-image&CIRCLE=10.68+41.27+0.001");
    assert_eq!(did.status, 200, "{}", did.text());
    let none = get(&server, "/soda/sync?ID=sample-image&CIRCLE=200+-41+0.1");
    assert_eq!((none.status, none.body.len()), (204, 0));
    // DataLink: an unknown ID is a row with NotFoundFault; a bad format is a VOTable error.
    let links = get(&server, "/soda/links?ID=nope");
    assert_eq!(links.status, 200);
    assert!(links.text().contains(r#"<INFO name="standardID" value="ivo://ivoa.net/std/DataLink#links-1.1"/>"#), "DataLink 1.1 §3: {}", links.text());
    assert!(links.text().contains("<TD>NotFoundFault: no dataset has ID `nope`</TD>"), "{}", links.text());
    let bad = get(&server, "/soda/links?ID=sample-image&RESPONSEFORMAT=text/csv");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("<INFO name=\"QUERY_STATUS\" value=\"ERROR\">UsageError"), "{}", bad.text());
    // AuthenticationError (401) and AuthorizationError (403) are asserted in tests/auth.rs.
}

/// The number in `<TAG value="…"/>` after `from` in `text`.
fn value_after(text: &str, from: &str, tag: &str) -> f64 {
    let rest = &text[text.find(from).unwrap_or_else(|| panic!("no {from}"))..];
    let at = rest.find(&format!("<{tag} value=\"")).unwrap() + tag.len() + 9;
    rest[at..].split('"').next().unwrap().parse().unwrap()
}

#[test]
fn the_service_descriptor_advertises_the_dataset_ranges() {
    let (server, _) = start("descriptor", &[]);
    let cube = get(&server, "/soda/links?ID=sample-cube").text();
    // WAVE: 5e-7 + 5e-9 (p - 1) over pixels 1..=40, edges at 0.5 and 40.5.
    assert!((value_after(&cube, "name=\"BAND\"", "MIN") - 4.975e-7).abs() < 1e-15, "{cube}");
    assert!((value_after(&cube, "name=\"BAND\"", "MAX") - 6.975e-7).abs() < 1e-15, "{cube}");
    assert_eq!(value_after(&cube, "name=\"TIME\"", "MIN"), 60000.0);
    assert_eq!(value_after(&cube, "name=\"TIME\"", "MAX"), 60000.5);
    for label in ["I", "Q", "U", "V"] {
        assert!(cube.contains(&format!("<OPTION value=\"{label}\"/>")), "{cube}");
    }
    // The bounding circle is centred on the cube's reference point and holds its corners.
    let circle = &cube[cube.find("name=\"CIRCLE\"").unwrap()..];
    let max = circle[circle.find("<MAX value=\"").unwrap() + 12..].split('"').next().unwrap().to_owned();
    let numbers: Vec<f64> = max.split(' ').map(|n| n.parse().unwrap()).collect();
    assert!((numbers[0] - 83.82).abs() < 0.01 && (numbers[1] + 5.39).abs() < 0.01, "{max}");
    assert!(numbers[2] > 0.44 && numbers[2] < 0.46, "{max}: 32 pixels of 0.01° to a corner");
    // The image has no spectral axis: BAND has no range.
    let image = get(&server, "/soda/links?ID=sample-image").text();
    let band = &image[image.find("name=\"BAND\"").unwrap()..];
    assert!(!band[..band.find("</PARAM>").unwrap_or(band.len())].contains("<MIN"), "{image}");
}

#[test]
fn a_switch_makes_jobs_without_overlap_fail() {
    let data = data_dir("no-overlap-fails");
    let server = Server::start_with_env(&built("soda-cutout-server"), &["--data-dir", data.to_str().unwrap()], &[("SODA_ASYNC_NO_OVERLAP", "fail")]);
    let form = [("content-type", "application/x-www-form-urlencoded")];
    let created = http(&server.addr, "POST", "/soda/async", &form, b"ID=sample-image&CIRCLE=200+-41+0.1&PHASE=RUN");
    assert_eq!(created.status, 303, "{}", created.text());
    let job = created.header("location").unwrap().trim_start_matches(&format!("http://{}", server.addr)).to_owned();
    let mut document = String::new();
    for _ in 0..20 {
        document = get(&server, &format!("{job}?WAIT=5")).text();
        if document.contains("<uws:phase>ERROR</uws:phase>") || document.contains("<uws:phase>COMPLETED</uws:phase>") {
            break;
        }
    }
    assert!(document.contains("<uws:phase>ERROR</uws:phase>"), "{document}");
    assert!(document.contains("Error: the filters do not overlap dataset `sample-image`"), "{document}");
}

#[test]
fn storage_gone_is_service_unavailable() {
    let (server, data) = start("unavailable", &[]);
    assert_eq!(get(&server, "/soda/sync?ID=sample-image&CIRCLE=10.68+41.27+0.01").status, 200);
    // The storage goes away under the running server (an unmounted volume, say).
    let moved = data.with_extension("moved");
    let _ = std::fs::remove_dir_all(&moved);
    std::fs::rename(&data, &moved).unwrap();
    soda_error(&get(&server, "/soda/sync?ID=sample-cube"), 503, "ServiceUnavailable");
    let links = get(&server, "/soda/links?ID=sample-cube");
    assert!(links.text().contains("<TD>TransientFault: "), "{}", links.text());
    // Back again: served again.
    std::fs::rename(&moved, &data).unwrap();
    assert_eq!(get(&server, "/soda/sync?ID=sample-cube&POL=I").status, 200);
}

#[test]
fn a_large_cutout_streams_with_its_length() {
    let data = data_dir("large");
    // 2048² float32 (16 MiB): a cutout of most of it exceeds the in-memory limit and streams.
    sample::write_image(&data.join("large.fits"), 2048, 150.0, 2.2, 0.5 / 3600.0).unwrap();
    let server = Server::start(&binary(), &["--data-dir", data.to_str().unwrap()]);
    let response = get(&server, "/soda/sync?ID=large&CIRCLE=150+2.2+0.12");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("content-length").map(|l| l.parse::<usize>().unwrap()), Some(response.body.len()));
    assert!(response.body.len() > 4 << 20, "{} bytes: not a streamed size", response.body.len());
    let header = header_of(&response.body);
    let image = fits::Image::open(&std::fs::File::open(data.join("large.fits")).unwrap()).unwrap();
    let first = |i: usize| (image.header.number(&format!("CRPIX{i}")).unwrap() - header.number(&format!("CRPIX{i}")).unwrap()) as usize + 1;
    let (x1, y1, width) = (first(1), first(2), header.number("NAXIS1").unwrap() as usize);
    let original = std::fs::read(data.join("large.fits")).unwrap();
    let body = data_of(&response.body, &header);
    for (row, bytes) in body.chunks(width * 4).enumerate() {
        let at = image.data_offset as usize + ((y1 - 1 + row) * 2048 + (x1 - 1)) * 4;
        assert_eq!(bytes, &original[at..at + width * 4], "row {row}");
    }
}
