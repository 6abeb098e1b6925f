//! The IVOA vocabulary: the `x-ivoa-*` keys of operations and the document, and UWS.

use super::Lowerer;
use crate::ir::*;
use crate::load::Node;
use crate::source::Span;

impl Lowerer<'_> {
    /// `x-ivoa-uws` as written, read before the operations, whose roles it decides.
    pub(super) fn uws_settings(&mut self) -> Option<UwsSettings> {
        let node = self.doc.root().get("x-ivoa-uws")?;
        let jobs = node.get("jobs").and_then(Node::as_str).map(|j| j.trim_end_matches('/').to_owned());
        let parameters = node.get("parameters").and_then(Node::as_str).map(str::to_owned);
        let (Some(jobs), Some(parameters)) = (jobs, parameters) else {
            self.error("ivoagen::ivoa::uws", node.span, "`x-ivoa-uws` needs `jobs` and `parameters`")
                .set_help("write `x-ivoa-uws: {jobs: /async, parameters: OPERATION_ID}`");
            return None;
        };
        let standard_id = node.get("standard-id").and_then(Node::as_str).map(str::to_owned);
        Some(UwsSettings { jobs, parameters, standard_id, span: node.span })
    }

    /// The UWS job API, once the operations are lowered: the operation whose parameters jobs
    /// take, and the job list, must both be in the document.
    pub(super) fn uws(&mut self, settings: UwsSettings, operations: &[Operation]) -> Option<Uws> {
        let UwsSettings { jobs, parameters, standard_id, span } = settings;
        let Some(operation) = operations.iter().position(|op| op.api_name == parameters) else {
            self.error("ivoagen::ivoa::uws", span, format!("`x-ivoa-uws` names operation `{parameters}`, which does not exist"));
            return None;
        };
        if !operations.iter().any(|op| op.uws) {
            self.error("ivoagen::ivoa::uws", span, format!("`x-ivoa-uws` names the job list `{jobs}`, which is not a path of the document"));
            return None;
        }
        Some(Uws { jobs, operation, standard_id })
    }

    /// The DALI type that `x-ivoa-xtype` on `node` names (in any case), if it has the key. An
    /// unknown name is an error, and `node` is then lowered as if it had no such key.
    pub(super) fn xtype(&mut self, node: &Node) -> Option<DaliType> {
        let xtype = node.get("x-ivoa-xtype")?;
        let known = xtype.as_str().and_then(|x| DaliType::ALL.iter().find(|(name, _)| name.eq_ignore_ascii_case(x)));
        if known.is_none() {
            let names: Vec<&str> = DaliType::ALL.iter().map(|(n, _)| *n).collect();
            self.error("ivoagen::ivoa::xtype", xtype.span, "unknown `x-ivoa-xtype`").set_help(format!("use one of: {}", names.join(", ")));
        }
        known.map(|(_, kind)| *kind)
    }

    /// `x-ivoa-groups` of an operation: the groups whose members alone it serves (none: no rule).
    /// It needs a security scheme to authenticate callers by, and makes authentication required
    /// where `security` would let anonymous callers in (a warning says so).
    pub(super) fn groups(&mut self, op: &Node, security: Option<&Security>) -> Vec<String> {
        let Some(node) = op.get("x-ivoa-groups") else { return Vec::new() };
        let help = "write `x-ivoa-groups: [GROUP, …]`: the groups whose members may call the operation";
        let items = node.items();
        if items.is_empty() {
            self.error("ivoagen::ivoa::groups", node.span, "`x-ivoa-groups` is not a non-empty list of groups").set_help(help);
            return Vec::new();
        }
        let mut groups = Vec::new();
        for item in items {
            match item.as_str() {
                Some(g) if !g.trim().is_empty() && !g.contains(',') && !g.contains(char::is_whitespace) => {
                    if !groups.iter().any(|known| known == g) {
                        groups.push(g.to_owned());
                    }
                }
                _ => {
                    self.error("ivoagen::ivoa::groups", item.span, "a group of `x-ivoa-groups` is a non-empty string without spaces or commas").set_help(help);
                    return Vec::new();
                }
            }
        }
        match security {
            None => {
                self.error("ivoagen::ivoa::groups", node.span, "`x-ivoa-groups` needs a security scheme to authenticate callers by")
                    .set_help("declare one in `components.securitySchemes` and require it with `security`");
                return Vec::new();
            }
            Some(s) if s.modality != Modality::Required => {
                self.warn("ivoagen::ivoa::groups-anonymous", node.span, "`x-ivoa-groups` makes authentication required: anonymous callers get 401, though `security` lets them in")
                    .set_help("require a scheme in the operation's `security` (drop the `{}` requirement) to say so in the document");
            }
            Some(_) => {}
        }
        groups
    }

    /// The `x-ivoa-*` settings of an operation; the operation's own keys win over its path
    /// item's, which win over the document's.
    pub(super) fn ivoa_settings(&mut self, op: &Node, item: &Node) -> IvoaSettings {
        let root = self.doc.root();
        let setting = |key: &str| op.get(key).or_else(|| item.get(key)).or_else(|| root.get(key)).cloned();
        let case_insensitive = setting("x-ivoa-case-insensitive").and_then(|n| n.as_bool()).unwrap_or(false);
        let error_format = match setting("x-ivoa-error-format") {
            None => ErrorFormat::Json,
            Some(n) => match n.as_str() {
                Some("json") => ErrorFormat::Json,
                Some("soda-text") => ErrorFormat::SodaText,
                Some("dali-votable") => ErrorFormat::DaliVotable,
                Some("scs-votable") => ErrorFormat::ScsVotable,
                _ => {
                    self.error("ivoagen::ivoa::error-format", n.span, "unknown `x-ivoa-error-format`")
                        .set_help("use one of: json, soda-text, dali-votable, scs-votable");
                    ErrorFormat::Json
                }
            },
        };
        let vosi = match op.get("x-ivoa-vosi") {
            None => None,
            Some(n) => match n.as_str() {
                Some("capabilities") => Some(Vosi::Capabilities),
                Some("availability") => Some(Vosi::Availability),
                _ => {
                    self.error("ivoagen::ivoa::vosi", n.span, "unknown `x-ivoa-vosi`").set_help("use one of: capabilities, availability");
                    None
                }
            },
        };
        IvoaSettings {
            case_insensitive,
            dali_sync: op.get("x-ivoa-sync").and_then(Node::as_bool).unwrap_or(false),
            base_url: op.get("x-ivoa-base-url").and_then(Node::as_bool).unwrap_or(false),
            error_format,
            standard_id: op.get("x-ivoa-standard-id").and_then(Node::as_str).map(str::to_owned),
            access_path: op.get("x-ivoa-access-path").and_then(Node::as_str).map(|p| p.trim_end_matches('/').to_owned()),
            interface_version: op.get("x-ivoa-interface-version").and_then(Node::as_str).map(str::to_owned),
            vosi,
        }
    }
}

/// The `x-ivoa-*` settings of one operation.
pub(super) struct IvoaSettings {
    pub(super) case_insensitive: bool,
    pub(super) dali_sync: bool,
    pub(super) base_url: bool,
    pub(super) error_format: ErrorFormat,
    pub(super) standard_id: Option<String>,
    pub(super) access_path: Option<String>,
    pub(super) interface_version: Option<String>,
    pub(super) vosi: Option<Vosi>,
}

/// `x-ivoa-uws: {jobs: /async, parameters: sodaSync}` as written (see [`Uws`]).
pub(super) struct UwsSettings {
    jobs: String,
    pub(super) parameters: String,
    standard_id: Option<String>,
    span: Span,
}

impl UwsSettings {
    /// Whether `path` is the job list or below it: part of the job API the runtime answers.
    pub(super) fn covers(&self, path: &str) -> bool {
        path.strip_prefix(&self.jobs).is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::{DaliType, ErrorFormat, Ty};
    use crate::lower::{codes, lowered};

    const HEAD: &str = "openapi: 3.1.0\ninfo: {title: t, version: '1'}\n";

    /// A document with a bearer scheme (required unless `security` says otherwise) and `ops`
    /// under `/a` (or wherever they say).
    fn secured(paths: &str, schemes: bool) -> String {
        let components = if schemes { "security: [{token: []}]\ncomponents:\n  securitySchemes:\n    token: {type: http, scheme: bearer}\n" } else { "" };
        format!("{HEAD}paths:\n{paths}{components}")
    }

    #[test]
    fn groups_are_lowered_once_each_and_checked() {
        let op = |method: &str, id: &str, groups: &str| format!("    {method}:\n      operationId: {id}\n      x-ivoa-groups: {groups}\n      responses: {{'204': {{description: none}}}}\n");
        let (api, diagnostics) = lowered(&secured(&format!("  /a:\n{}", op("get", "a", "[survey, staff, survey]")), true));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(api.expect("lowered").operations[0].groups, ["survey", "staff"]);
        for bad in ["[]", "survey", "{a: b}", "[a, 1]", "[a b]", "['a,b']"] {
            let (_, diagnostics) = lowered(&secured(&format!("  /a:\n{}", op("get", "a", bad)), true));
            assert_eq!(codes(&diagnostics), ["ivoagen::ivoa::groups"], "{bad}");
        }
        let (_, diagnostics) = lowered(&secured(&format!("  /a:\n{}", op("get", "a", "[survey]")), false));
        assert_eq!(codes(&diagnostics), ["ivoagen::ivoa::groups"], "no scheme to authenticate by");
        let (_, diagnostics) = lowered(&secured(&format!("  /a:\n{}{}", op("get", "a", "[survey]"), op("post", "b", "[staff]")), true));
        assert_eq!(codes(&diagnostics), ["ivoagen::ivoa::groups"], "one route, one gate");
    }

    #[test]
    fn an_xtype_is_matched_in_any_case_on_a_schema_and_on_a_parameter() {
        let spec = format!(
            "{HEAD}paths:\n  /s:\n    get:\n      operationId: s\n      parameters:\n        - {{name: POS, in: query, x-ivoa-xtype: CIRCLE, schema: {{type: string}}}}\n        - {{name: BAND, in: query, schema: {{type: string, x-ivoa-xtype: Interval}}}}\n        - {{name: T, in: query, x-ivoa-xtype: timestamp, schema: {{type: array, items: {{type: string}}, maxItems: 2}}}}\n      responses: {{'204': {{description: none}}}}\n"
        );
        let (api, diagnostics) = lowered(&spec);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let params = &api.expect("lowered").operations[0].params;
        assert_eq!(params[0].ty, Ty::Dali(DaliType::Circle));
        assert_eq!(params[1].ty, Ty::Dali(DaliType::Interval));
        assert_eq!(params[2].ty, Ty::Vec(Box::new(Ty::Dali(DaliType::Timestamp))));
        assert_eq!(params[2].constraints.max_items, Some(2), "the array's own checks stay");
    }

    /// An unknown xtype is one error at the key, wherever it is written; the schema is lowered as
    /// if the key were absent (so nothing else is reported about it).
    #[test]
    fn an_unknown_xtype_is_one_located_error() {
        let spec = format!(
            "{HEAD}paths:\n  /s:\n    get:\n      operationId: s\n      parameters:\n        - {{name: POS, in: query, x-ivoa-xtype: circel, schema: {{type: string}}}}\n        - {{name: BAND, in: query, schema: {{type: string, x-ivoa-xtype: 3}}}}\n      responses: {{'204': {{description: none}}}}\n"
        );
        let (api, diagnostics) = lowered(&spec);
        assert!(api.is_none());
        assert_eq!(codes(&diagnostics), ["ivoagen::ivoa::xtype", "ivoagen::ivoa::xtype"]);
        assert!(diagnostics[0].help.as_deref().is_some_and(|h| h.contains("circle")));
    }

    #[test]
    fn settings_of_the_operation_win_over_the_path_item_and_the_document() {
        let spec = format!(
            "{HEAD}x-ivoa-error-format: soda-text\npaths:\n  /a:\n    x-ivoa-error-format: dali-votable\n    get:\n      operationId: a\n      x-ivoa-error-format: json\n      responses: {{'204': {{description: none}}}}\n    post:\n      operationId: b\n      responses: {{'204': {{description: none}}}}\n  /c:\n    get:\n      operationId: c\n      responses: {{'204': {{description: none}}}}\n"
        );
        let (api, diagnostics) = lowered(&spec);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let formats: Vec<ErrorFormat> = api.expect("lowered").operations.iter().map(|op| op.error_format).collect();
        assert_eq!(formats, [ErrorFormat::Json, ErrorFormat::DaliVotable, ErrorFormat::SodaText]);
    }

    #[test]
    fn the_uws_job_api_is_marked_while_operations_are_built() {
        let spec = format!(
            "{HEAD}x-ivoa-uws: {{jobs: /async/, parameters: run}}\npaths:\n  /run:\n    get:\n      operationId: run\n      responses: {{'204': {{description: none}}}}\n  /async:\n    get:\n      operationId: jobs\n      responses: {{'204': {{description: none}}}}\n  /async/{{id}}:\n    get:\n      operationId: job\n      responses: {{'204': {{description: none}}}}\n  /asyncx:\n    get:\n      operationId: other\n      responses: {{'204': {{description: none}}}}\n"
        );
        let (api, diagnostics) = lowered(&spec);
        let api = api.unwrap_or_else(|| panic!("{diagnostics:?}"));
        let uws: Vec<(&str, bool)> = api.operations.iter().map(|op| (op.api_name.as_str(), op.uws)).collect();
        assert_eq!(uws, [("run", false), ("jobs", true), ("job", true), ("other", false)]);
        let job_api = api.uws.expect("the job API");
        assert_eq!((job_api.jobs.as_str(), job_api.operation), ("/async", 0));
        assert_eq!(api.operations[0].job_method, "run_job");
    }

    #[test]
    fn a_uws_job_api_that_names_what_is_not_there_is_refused() {
        for uws in ["{jobs: /async}", "{jobs: /async, parameters: nothing}", "{jobs: /nowhere, parameters: run}"] {
            let spec = format!("{HEAD}x-ivoa-uws: {uws}\npaths:\n  /run:\n    get:\n      operationId: run\n      responses: {{'204': {{description: none}}}}\n  /async:\n    get:\n      operationId: jobs\n      responses: {{'204': {{description: none}}}}\n");
            let (api, diagnostics) = lowered(&spec);
            assert!(api.is_none(), "{uws}");
            assert_eq!(codes(&diagnostics), ["ivoagen::ivoa::uws"], "{uws}");
        }
    }
}
