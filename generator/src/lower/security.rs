//! Security: the schemes the runtime enforces, and each operation's modality and schemes.

use super::Lowerer;
use crate::ir::*;
use crate::load::{Node, Value, edit_distance};
use crate::source::FileId;

impl Lowerer<'_> {
    /// The security schemes of `components.securitySchemes` that map to credentials the runtime
    /// reads, with their AuthVO challenges (`x-ivoa-challenge` overrides the default one). A
    /// scheme of another kind is left out with a warning, and remembered in
    /// [`Lowerer::unenforced`] so that a requirement that needs it is refused.
    pub(super) fn security_schemes(&mut self) -> Vec<SecurityScheme> {
        let root = self.doc.root();
        let Some(schemes) = root.get("components").and_then(|c| c.get("securitySchemes")) else { return Vec::new() };
        let mut out = Vec::new();
        for (key, node) in schemes.entries() {
            let (_, node, _) = self.doc.resolve(FileId::ROOT, node);
            let ty = node.get("type").and_then(Node::as_str).unwrap_or_default();
            let http_scheme = node.get("scheme").and_then(Node::as_str).unwrap_or_default().to_ascii_lowercase();
            let cookie = (ty == "apiKey" && node.get("in").and_then(Node::as_str) == Some("cookie")).then(|| node.get("name").and_then(Node::as_str));
            let (kind, challenge, mut parameters) = match (ty, cookie) {
                ("http", _) if http_scheme == "bearer" => (SchemeKind::Bearer, "Bearer", vec![]),
                ("http", _) if http_scheme == "basic" => (SchemeKind::Basic, "Basic", vec![("realm".to_owned(), root.get("info").and_then(|i| i.get("title")).and_then(Node::as_str).unwrap_or("service").to_owned())]),
                ("oauth2" | "openIdConnect", _) => (SchemeKind::Bearer, "Bearer", vec![]),
                (_, Some(Some(name))) => (SchemeKind::Cookie(name.to_owned()), "ivoa_cookie", vec![]),
                (_, Some(None)) => {
                    self.error("ivoagen::lower::security-scheme", node.span, format!("security scheme `{}` reads a cookie but does not name it", key.name))
                        .set_help("an apiKey scheme needs `name`: the cookie's name");
                    continue;
                }
                ("mutualTLS", _) => (SchemeKind::ClientCertificate, "ivoa_x509", vec![]),
                _ => {
                    self.warn("ivoagen::lower::security-scheme", node.span, format!("security scheme `{}` is not enforced", key.name))
                        .set_help("the runtime reads http bearer and basic, oauth2/openIdConnect bearer tokens, apiKey in a cookie, and mutualTLS; an operation that has no other scheme is refused");
                    self.unenforced.insert(key.name.clone());
                    continue;
                }
            };
            let mut challenge = challenge.to_owned();
            if let Some(c) = node.get("x-ivoa-challenge") {
                if let Some(s) = c.get("scheme").and_then(Node::as_str) {
                    challenge = s.to_owned();
                }
                parameters.clear();
                for name in ["standard_id", "access_url", "discovery_url", "realm"] {
                    if let Some(v) = c.get(name).and_then(Node::as_str) {
                        parameters.push((name.to_owned(), v.to_owned()));
                    }
                }
            }
            out.push(SecurityScheme { name: key.name.clone(), kind, challenge, parameters });
        }
        out
    }

    /// The modality and schemes of a list of security requirements (an operation's `security`,
    /// or the document's), when the document has schemes the runtime enforces.
    ///
    /// Requirements are alternatives: one that needs a scheme the runtime cannot read is left
    /// out, whatever else it names (its clients are refused, never let in with one factor of
    /// two), but when that leaves none, the operation would be served without authentication,
    /// so it is refused. The schemes of one requirement are accepted each on its own.
    pub(super) fn security(&mut self, list: Option<&Node>) -> Option<Security> {
        let all = (0..self.schemes.len()).collect::<Vec<_>>();
        let Some(list) = list else {
            // No requirement: credentials of any scheme the document declares still name the
            // caller (and a client that sends them everywhere is not refused for it).
            return (!self.schemes.is_empty()).then_some(Security { modality: Modality::None, schemes: all });
        };
        if !matches!(list.value, Value::Seq(_)) {
            self.error("ivoagen::lower::security-requirement", list.span, "`security` is not a list of requirements")
                .set_help("write `security: [{SCHEME: []}]`, `[{}]` to allow anonymous requests too, or `[]` for none");
            return None;
        }
        let (mut anonymous, mut unenforced) = (false, false);
        let mut schemes = Vec::new();
        for requirement in list.items() {
            let Value::Map(entries) = &requirement.value else {
                self.error("ivoagen::lower::security-requirement", requirement.span, "a security requirement is a mapping from scheme names to scopes")
                    .set_help("write `{token: []}` rather than `token`; `{}` allows anonymous requests");
                continue;
            };
            if entries.is_empty() {
                anonymous = true;
            }
            // The schemes of one requirement; it cannot be met when one of them is not enforced.
            let mut needed = Vec::new();
            let mut met = true;
            for (name, _) in entries {
                if let Some(i) = self.schemes.iter().position(|s| s.name == name.name) {
                    needed.push(i);
                } else if self.unenforced.contains(&name.name) {
                    met = false;
                } else {
                    let declared: Vec<String> = self.schemes.iter().map(|s| s.name.clone()).chain(self.unenforced.iter().cloned()).collect();
                    let help = match declared.iter().min_by_key(|d| edit_distance(d, &name.name)) {
                        Some(best) => format!("did you mean `{best}`? requirements name schemes of `components.securitySchemes`"),
                        None => "declare the scheme in `components.securitySchemes`".to_owned(),
                    };
                    self.error("ivoagen::lower::security-requirement", name.span, format!("security scheme `{}` is not declared", name.name)).set_help(help);
                }
            }
            if !met {
                unenforced = true;
                continue;
            }
            for i in needed {
                if !schemes.contains(&i) {
                    schemes.push(i);
                }
            }
        }
        let modality = match (anonymous, schemes.is_empty()) {
            (true, _) => Modality::Optional,
            (false, false) => Modality::Required,
            (false, true) if unenforced => {
                self.error("ivoagen::lower::security-unsupported", list.span, "every requirement here needs a security scheme ivoagen cannot enforce")
                    .set_label("would be served without authentication")
                    .set_help("the runtime reads http bearer and basic, oauth2/openIdConnect bearer tokens, apiKey in a cookie, and mutualTLS; add a requirement with one of them");
                return None;
            }
            (false, true) => Modality::None,
        };
        if self.schemes.is_empty() {
            return None;
        }
        let schemes = if modality == Modality::None { all } else { schemes };
        Some(Security { modality, schemes })
    }
}

#[cfg(test)]
mod tests {
    use crate::ir::{Modality, SchemeKind, Security};
    use crate::lower::{codes, lowered};

    /// A spec whose one operation has `security` (when given) over the document's `[{token: []}]`.
    fn spec(own: Option<&str>) -> String {
        let own = own.map_or(String::new(), |s| format!("      security: {s}\n"));
        format!(
            "openapi: 3.1.0\ninfo: {{title: t, version: '1'}}\npaths:\n  /a:\n    get:\n      operationId: a\n{own}      responses: {{'204': {{description: none}}}}\nsecurity: [{{token: []}}]\ncomponents:\n  securitySchemes:\n    token: {{type: http, scheme: bearer}}\n    session: {{type: apiKey, in: cookie, name: sid}}\n    key: {{type: apiKey, in: header, name: X-Key}}\n"
        )
    }

    fn security(own: Option<&str>) -> Security {
        let (api, diagnostics) = lowered(&spec(own));
        let api = api.unwrap_or_else(|| panic!("{diagnostics:?}"));
        assert_eq!(api.security_schemes.iter().map(|s| &s.kind).collect::<Vec<_>>(), [&SchemeKind::Bearer, &SchemeKind::Cookie("sid".into())]);
        api.operations[0].security.clone().expect("secured")
    }

    #[test]
    fn the_modality_follows_the_requirements() {
        assert_eq!(security(None), Security { modality: Modality::Required, schemes: vec![0] });
        assert_eq!(security(Some("[{}, {session: []}]")), Security { modality: Modality::Optional, schemes: vec![1] });
        assert_eq!(security(Some("[]")), Security { modality: Modality::None, schemes: vec![0, 1] });
        // An alternative the runtime cannot check is left out: its clients are refused, not let in.
        assert_eq!(security(Some("[{key: []}, {session: []}]")), Security { modality: Modality::Required, schemes: vec![1] });
        assert_eq!(security(Some("[{key: [], token: []}, {session: []}]")), Security { modality: Modality::Required, schemes: vec![1] }, "a token alone does not meet `key` and `token`");
    }

    #[test]
    fn requirements_that_would_serve_anyone_are_refused() {
        for (own, code) in [
            ("[{key: []}]", "ivoagen::lower::security-unsupported"),
            ("[token]", "ivoagen::lower::security-requirement"),
            ("{token: []}", "ivoagen::lower::security-requirement"),
            ("[{tokn: []}]", "ivoagen::lower::security-requirement"),
        ] {
            let (api, diagnostics) = lowered(&spec(Some(own)));
            assert!(api.is_none(), "{own}");
            assert_eq!(codes(&diagnostics), ["ivoagen::lower::security-scheme", code], "{own}");
        }
        let (_, diagnostics) = lowered(&spec(Some("[{tokn: []}]")));
        assert!(diagnostics[1].help.as_deref().is_some_and(|h| h.contains("did you mean `token`")), "{:?}", diagnostics[1].help);
    }

    #[test]
    fn a_cookie_scheme_must_name_its_cookie() {
        let (api, diagnostics) = lowered(&spec(None).replace(", name: sid", ""));
        assert!(api.is_none());
        assert_eq!(codes(&diagnostics), ["ivoagen::lower::security-scheme", "ivoagen::lower::security-scheme"]);
        assert!(diagnostics[0].is_error() && !diagnostics[1].is_error());
    }
}
