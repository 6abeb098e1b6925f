//! The TAP service: `ivoagen init` wrote this file once and never overwrites it. It serves one
//! sample table, `sample.objects`, and answers the query shapes a sample can answer without a
//! database: `SELECT [TOP n] * | columns FROM sample.objects`, and `SELECT * FROM TAP_UPLOAD.name`
//! for a VOTable uploaded inline (`UPLOAD=name,param:PART` and the file part PART), answered as
//! it was sent; results in VOTable, CSV, TSV or a FITS binary table. Anything else is refused with a UsageError that says so. Replace `answer` with a
//! call to your database's ADQL translator.

use crate::api::{self, Api};
use ivoagen_runtime as rt;
use std::sync::Arc;

/// The sample table's columns: name, VOTable datatype, UCD, unit, description.
const COLUMNS: &[(&str, &str, &str, &str, &str)] = &[
    ("id", "char", "meta.id;meta.main", "", "The object's name"),
    ("ra", "double", "pos.eq.ra;meta.main", "deg", "Right ascension, ICRS"),
    ("dec", "double", "pos.eq.dec;meta.main", "deg", "Declination, ICRS"),
];

/// The sample table's rows.
const ROWS: &[(&str, f64, f64)] = &[("M31", 10.6847, 41.2690), ("M32", 10.6743, 40.8652), ("M110", 10.0921, 41.6853)];

/// The schema and table every query must name.
const TABLE: &str = "sample.objects";

/// The most rows a query returns unless MAXREC says otherwise, and the most MAXREC may ask for.
const MAXREC: (usize, usize) = (1000, 100_000);

/// The service. Keep here what the operations share (configuration, connections).
#[derive(Debug, Clone)]
pub struct Service {
    /// The job limits the server runs with (`--uws-*`), which TAPRegExt reports.
    limits: rt::uws::limits::Limits,
}

impl Service {
    /// Builds the service when the server starts; an error stops the server, its message on one
    /// line.
    pub fn new(config: &rt::serve::Config) -> Result<Self, String> {
        Ok(Service { limits: config.uws.clone() })
    }
}

/// A query's result: the columns chosen (by index, with the name they are given), the rows, and
/// whether MAXREC cut them.
struct Table {
    columns: Vec<(usize, String)>,
    rows: Vec<[String; 3]>,
    overflow: bool,
}

/// Runs `request`'s query on the sample table: `SELECT [TOP n] * | column [AS name], … FROM
/// sample.objects [[AS] alias]`, columns optionally qualified (`s.ra`).
fn run(request: &api::QueryRequest) -> Result<Table, rt::Error> {
    if !["adql", "adql-2.0", "adql-2.1"].contains(&request.lang.to_ascii_lowercase().as_str()) {
        return Err(rt::Error::usage(format!("LANG `{}` is not supported: use ADQL", request.lang)));
    }
    let query = request.query.as_deref().ok_or_else(|| rt::Error::usage("QUERY is required with LANG=ADQL"))?;
    let refused = || rt::Error::usage(format!("this sample service answers only `SELECT [TOP n] * | columns FROM {TABLE}`, not `{query}`"));
    let spaced = query.replace(',', " , ");
    let words: Vec<&str> = spaced.split_whitespace().collect();
    let keyword = |w: &&str, k: &str| w.eq_ignore_ascii_case(k);
    let from = words.iter().position(|w| keyword(w, "from")).ok_or_else(refused)?;
    let tail = &words[from + 1..];
    let table_ok = tail.first().is_some_and(|t| t.eq_ignore_ascii_case(TABLE))
        && match tail.len() {
            1 => true,
            2 => !tail[1].contains('.'),
            3 => keyword(&tail[1], "as"),
            _ => false,
        };
    if !words.first().is_some_and(|w| keyword(w, "select")) || !table_ok {
        return Err(refused());
    }
    let mut selected = &words[1..from];
    let mut top = None;
    if selected.first().is_some_and(|w| keyword(w, "top")) {
        top = Some(selected.get(1).and_then(|n| n.parse::<usize>().ok()).ok_or_else(refused)?);
        selected = &selected[2..];
    }
    let columns = if selected == ["*"] {
        COLUMNS.iter().enumerate().map(|(i, (name, ..))| (i, (*name).to_owned())).collect()
    } else {
        let mut columns = Vec::new();
        for item in selected.split(|w| *w == ",") {
            let (column, name) = match item {
                [column] => (*column, None),
                [column, as_, name] if keyword(as_, "as") => (*column, Some(*name)),
                _ => return Err(refused()),
            };
            let bare = column.rsplit('.').next().unwrap_or(column);
            let index = COLUMNS.iter().position(|(c, ..)| c.eq_ignore_ascii_case(bare)).ok_or_else(|| rt::Error::usage(format!("{TABLE} has no column `{column}`")))?;
            columns.push((index, name.unwrap_or(COLUMNS[index].0).trim_matches('"').to_owned()));
        }
        columns
    };
    let maxrec = request.maxrec.map_or(Ok(MAXREC.0), |m| usize::try_from(m).map_err(|_| rt::Error::usage("MAXREC must not be negative")))?.min(MAXREC.1);
    let wanted = top.unwrap_or(usize::MAX).min(ROWS.len());
    let rows: Vec<[String; 3]> = ROWS.iter().take(wanted.min(maxrec)).map(|(id, ra, dec)| [(*id).to_owned(), ra.to_string(), dec.to_string()]).collect();
    Ok(Table { columns, overflow: wanted > maxrec, rows })
}

/// A result written in one of the formats: text, or bytes (FITS).
enum Encoded {
    Text(String),
    Bytes(Vec<u8>),
}

impl Encoded {
    /// The body of the sync answer in `format` (the format it was written in).
    fn body(self, format: &str) -> api::QueryOkBody {
        match (self, format) {
            (Encoded::Bytes(bytes), _) => api::QueryOkBody::Fits(rt::response::Body::from(bytes)),
            (Encoded::Text(text), "text/csv") => api::QueryOkBody::Csv(text),
            (Encoded::Text(text), "text/tab-separated-values") => api::QueryOkBody::TabSeparatedValues(text),
            (Encoded::Text(text), _) => api::QueryOkBody::Votable(text),
        }
    }

    fn into_bytes(self) -> Vec<u8> {
        match self {
            Encoded::Text(text) => text.into_bytes(),
            Encoded::Bytes(bytes) => bytes,
        }
    }
}

/// `table` in `format`, one of the media types the query's response declares.
fn write(table: &Table, format: &str) -> Encoded {
    let names = table.columns.iter().map(|(_, name)| name.as_str());
    match format {
        "text/csv" | "text/tab-separated-values" => {
            let separator = if format == "text/csv" { "," } else { "\t" };
            let mut text = names.collect::<Vec<_>>().join(separator) + "\r\n";
            for row in &table.rows {
                text += &table.columns.iter().map(|(c, _)| row[*c].as_str()).collect::<Vec<_>>().join(separator);
                text += "\r\n";
            }
            Encoded::Text(text)
        }
        "application/fits" => Encoded::Bytes(fits(table)),
        _ => Encoded::Text(votable(table)),
    }
}

/// One 80-character FITS header card: `KEY     = value`, strings quoted.
fn card(key: &str, value: &str) -> String {
    let line = if key == "END" { key.to_owned() } else { format!("{key:<8}= {value:>20}") };
    format!("{line:<80}")
}

/// A FITS string value: quoted, at least 8 characters inside the quotes.
fn quoted(text: &str) -> String {
    format!("'{:<8}'", text.replace('\'', "''"))
}

/// `cards` padded to whole 2880-byte blocks.
fn header(cards: &[String]) -> Vec<u8> {
    let mut bytes = cards.concat().into_bytes();
    bytes.resize(bytes.len().div_ceil(2880) * 2880, b' ');
    bytes
}

/// `table` as a FITS file: an empty primary HDU, then a binary table (FITS 4.0 §7.3) with a
/// `nA` column for text (n the longest value) and `D` (big-endian double) for numbers.
fn fits(table: &Table) -> Vec<u8> {
    let width = |c: usize| table.rows.iter().map(|row| row[c].len()).max().unwrap_or(0).max(1);
    let mut out = header(&[card("SIMPLE", "T"), card("BITPIX", "8"), card("NAXIS", "0"), card("EXTEND", "T"), card("END", "")]);
    let row_bytes: usize = table.columns.iter().map(|(c, _)| if COLUMNS[*c].1 == "char" { width(*c) } else { 8 }).sum();
    let mut cards = vec![
        card("XTENSION", &quoted("BINTABLE")),
        card("BITPIX", "8"),
        card("NAXIS", "2"),
        card("NAXIS1", &row_bytes.to_string()),
        card("NAXIS2", &table.rows.len().to_string()),
        card("PCOUNT", "0"),
        card("GCOUNT", "1"),
        card("TFIELDS", &table.columns.len().to_string()),
    ];
    for (i, (c, name)) in table.columns.iter().enumerate() {
        let (_, datatype, _, unit, _) = COLUMNS[*c];
        let n = i + 1;
        cards.push(card(&format!("TTYPE{n}"), &quoted(name)));
        cards.push(card(&format!("TFORM{n}"), &quoted(&if datatype == "char" { format!("{}A", width(*c)) } else { "D".to_owned() })));
        if !unit.is_empty() {
            cards.push(card(&format!("TUNIT{n}"), &quoted(unit)));
        }
    }
    cards.push(card("END", ""));
    out.extend(header(&cards));
    let start = out.len();
    for row in &table.rows {
        for (c, _) in &table.columns {
            if COLUMNS[*c].1 == "char" {
                let mut text = row[*c].clone().into_bytes();
                text.resize(width(*c), b' ');
                out.extend(text);
            } else {
                out.extend(row[*c].parse::<f64>().unwrap_or(f64::NAN).to_be_bytes());
            }
        }
    }
    let data = out.len() - start;
    out.resize(start + data.div_ceil(2880) * 2880, 0);
    out
}

/// `table` as a VOTable (TAP 1.1 §4.4): QUERY_STATUS OK, then OVERFLOW after the table when
/// MAXREC cut it.
fn votable(table: &Table) -> String {
    let fields: String = table
        .columns
        .iter()
        .map(|(c, name)| {
            let (_, datatype, ucd, unit, description) = COLUMNS[*c];
            let name = rt::xml::escape(name);
            let size = if datatype == "char" { r#" arraysize="*""# } else { "" };
            let unit = if unit.is_empty() { String::new() } else { format!(r#" unit="{unit}""#) };
            format!("<FIELD name=\"{name}\" datatype=\"{datatype}\"{size} ucd=\"{ucd}\"{unit}><DESCRIPTION>{description}</DESCRIPTION></FIELD>\n")
        })
        .collect();
    let rows: String = table
        .rows
        .iter()
        .map(|row| format!("<TR>{}</TR>\n", table.columns.iter().map(|(c, _)| format!("<TD>{}</TD>", rt::xml::escape(&row[*c]))).collect::<String>()))
        .collect();
    let overflow = if table.overflow { "<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\"/>\n" } else { "" };
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE type="results">
<INFO name="QUERY_STATUS" value="OK"/>
<TABLE name="objects">
{fields}<DATA><TABLEDATA>
{rows}</TABLEDATA></DATA>
</TABLE>
{overflow}</RESOURCE>
</VOTABLE>
"#
    )
}

/// The answer to `request` in `format`: an uploaded table, or a query of the sample table.
fn answer(request: &api::QueryRequest, format: &str) -> Result<Encoded, rt::Error> {
    // Every UPLOAD must name a table the request carries (TAP 1.1 §2.7.5).
    let mut uploaded = Vec::new();
    for value in request.upload.iter().flatten() {
        let upload = request.uploads.resolve(value)?;
        match upload.source {
            rt::upload::Source::Inline(file) => uploaded.push((upload.table, file)),
            rt::upload::Source::Url(url) => return Err(rt::Error::usage(format!("this sample reads tables uploaded inline (`param:PART`), not from {url}"))),
        }
    }
    let query = request.query.as_deref().unwrap_or_default();
    let words: Vec<&str> = query.split_whitespace().collect();
    match words.as_slice() {
        [select, "*", from, table] if select.eq_ignore_ascii_case("select") && from.eq_ignore_ascii_case("from") && table.get(..11).is_some_and(|schema| schema.eq_ignore_ascii_case("tap_upload.")) => {
            let name = &table[11..];
            let (_, file) = uploaded.iter().find(|(t, _)| t.eq_ignore_ascii_case(name)).ok_or_else(|| rt::Error::usage(format!("no UPLOAD names the table `{name}`")))?;
            if format != "application/x-votable+xml" {
                return Err(rt::Error::usage("this sample answers an uploaded table as the VOTable it was sent"));
            }
            // A sample reads the table whole; a database would stream it from `file.content.path()`.
            let bytes = file.content.bytes().map_err(|e| rt::Error::internal(format!("the uploaded table `{name}` could not be read: {e}")))?;
            let text = std::str::from_utf8(&bytes).ok().and_then(as_result).ok_or_else(|| rt::Error::usage(format!("the uploaded table `{name}` is not a VOTable")))?;
            Ok(Encoded::Text(text))
        }
        _ => Ok(write(&run(request)?, format)),
    }
}

/// An uploaded VOTable as a TAP result (TAP 1.1 §4.4): its first RESOURCE marked
/// `type="results"` (unless it has a type), with `QUERY_STATUS` OK first; `None` when it has no
/// RESOURCE with content.
fn as_result(votable: &str) -> Option<String> {
    let start = votable.find("<RESOURCE")?;
    let end = start + votable[start..].find('>')?;
    let tag = &votable[start..end];
    if tag.ends_with('/') {
        return None;
    }
    let tag = if tag.contains("type=") { tag.to_owned() } else { format!("{tag} type=\"results\"") };
    let status = if votable[end..].trim_start_matches('>').trim_start().starts_with("<INFO name=\"QUERY_STATUS\"") { "" } else { "<INFO name=\"QUERY_STATUS\" value=\"OK\"/>" };
    Some(format!("{}{tag}>{status}{}", &votable[..start], &votable[end + 1..]))
}

/// The format RESPONSEFORMAT (or its older name, FORMAT) asks for.
fn format(request: &api::QueryRequest) -> Result<&'static str, rt::Error> {
    let asked = request.responseformat.as_deref().or(request.format.as_deref());
    rt::response::negotiate(asked, api::QueryOkBody::MEDIA_TYPES)
}

impl Api for Service {
    /// The query's result, at once.
    async fn query(&self, request: api::QueryRequest) -> Result<api::QueryResponse, rt::Error> {
        let format = format(&request)?;
        Ok(api::QueryResponse::Ok(answer(&request, format)?.body(format)))
    }

    /// The query's result as the job's one result, `result` (TAP 1.1 §2.2.2).
    async fn query_job(&self, request: api::QueryRequest, results: Arc<rt::uws::engine::ResultWriter>) -> Result<(), rt::uws::JobError> {
        let format = format(&request)?;
        let bytes = answer(&request, format)?.into_bytes();
        results.put("result", format, &bytes).map_err(|e| rt::uws::JobError::from(rt::Error::internal(format!("the result could not be written: {e}"))))
    }

    /// The sample table's description (VOSI 1.1 tableset).
    async fn tables(&self, _request: api::TablesRequest) -> Result<api::TablesResponse, rt::Error> {
        let columns: String = COLUMNS
            .iter()
            .map(|(name, datatype, ucd, unit, description)| {
                let unit = if unit.is_empty() { String::new() } else { format!("<unit>{unit}</unit>") };
                let size = if *datatype == "char" { r#" arraysize="*""# } else { "" };
                format!("<column><name>{name}</name><description>{description}</description>{unit}<ucd>{ucd}</ucd><dataType xsi:type=\"vs:VOTableType\"{size}>{datatype}</dataType></column>")
            })
            .collect();
        let (schema, table) = TABLE.split_once('.').unwrap_or(("sample", TABLE));
        Ok(api::TablesResponse::Ok(format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<vosi:tableset xmlns:vosi="http://www.ivoa.net/xml/VOSITables/v1.0" xmlns:vs="http://www.ivoa.net/xml/VODataService/v1.1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
<schema><name>{schema}</name><description>The sample objects</description>
<table type="table"><name>{schema}.{table}</name><description>Three galaxies near M31</description>{columns}</table>
</schema>
</vosi:tableset>
"#
        )))
    }

    /// TAPRegExt 1.0 (§2): the language, the output formats, the upload methods and the limits
    /// this service has.
    fn vosi_capability(&self, standard_id: &str) -> Option<rt::vosi::Extension> {
        use rt::vosi::{Element, Extension};
        const TR: &str = "ivo://ivoa.net/std/TAPRegExt";
        let format = |mime: &str, alias: &str, id: Option<&str>| {
            let element = Element::new("outputFormat").child(Element::leaf("mime", mime)).child(Element::leaf("alias", alias));
            match id {
                Some(id) => element.attribute("ivo-id", id),
                None => element,
            }
        };
        let pair = |name: &str, default: u64, hard: u64| Element::new(name).child(Element::leaf("default", default)).child(Element::leaf("hard", hard));
        let rows = |name: &str, default: usize, hard: usize| Element::new(name).child(Element::leaf("default", default).attribute("unit", "row")).child(Element::leaf("hard", hard).attribute("unit", "row"));
        let limits = &self.limits;
        (standard_id == "ivo://ivoa.net/std/TAP").then(|| {
            Extension::new("tr", "TableAccess", "http://www.ivoa.net/xml/TAPRegExt/v1.0")
                .element(
                    Element::new("language")
                        .child(Element::leaf("name", "ADQL"))
                        .child(Element::leaf("version", "2.0").attribute("ivo-id", "ivo://ivoa.net/std/ADQL#v2.0"))
                        .child(Element::leaf("description", "ADQL 2.0 (this sample answers SELECT [TOP n] cols FROM sample.objects)")),
                )
                .element(format("application/x-votable+xml", "votable", Some(&format!("{TR}#output-votable-td"))))
                .element(format("text/csv", "csv", None))
                .element(format("text/tab-separated-values", "tsv", None))
                .element(format("application/fits", "fits", None))
                .element(pair("retentionPeriod", limits.destruction.as_secs(), limits.max_destruction.as_secs()))
                .element(pair("executionDuration", limits.execution_duration, limits.max_execution_duration))
                .element(rows("outputLimit", MAXREC.0, MAXREC.1))
        })
    }
}
