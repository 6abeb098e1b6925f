//! Turning API names into Rust identifiers.
//!
//! One place decides how names are sanitised, so every phase agrees and collisions with Rust
//! keywords and prelude names are handled once.

use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use std::collections::{BTreeMap, BTreeSet};

const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern", "false", "fn",
    "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self",
    "Self", "static", "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "abstract",
    "become", "box", "do", "final", "macro", "override", "priv", "try", "typeof", "unsized", "virtual", "yield",
];

/// Replaces everything that cannot be in an identifier by `_`, keeping word boundaries.
fn words(name: &str) -> String {
    name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect()
}

/// `cased` made an identifier: `empty` when it is empty, `lead` before a leading digit, and a
/// trailing `_` when it is a keyword.
fn identifier(mut cased: String, empty: &str, lead: char) -> String {
    if cased.is_empty() {
        cased.push_str(empty);
    }
    if cased.starts_with(|c: char| c.is_ascii_digit()) {
        cased.insert(0, lead);
    }
    if KEYWORDS.contains(&cased.as_str()) {
        cased.push('_');
    }
    cased
}

/// A type or variant name: `UpperCamelCase`, never empty, never starting with a digit.
pub fn type_name(name: &str) -> String {
    identifier(words(name).to_upper_camel_case(), "Value", 'V')
}

/// A field, method or module name: `snake_case`, never empty, never a keyword.
pub fn field_name(name: &str) -> String {
    identifier(words(name).to_snake_case(), "value", '_')
}

/// Makes `name` unique among `taken` by appending a number, and records it.
pub fn unique(name: String, taken: &mut BTreeSet<String>) -> String {
    if taken.insert(name.clone()) {
        return name;
    }
    let unique = (2..).map(|n| format!("{name}{n}")).find(|c| !taken.contains(c)).unwrap_or(name);
    taken.insert(unique.clone());
    unique
}

/// Where a generated name lives: names in different spaces never collide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Space {
    /// Methods of the `Api` trait.
    Method,
    /// Types of the `api` module (request structs, response enums, and what it imports).
    Type,
    /// Functions, consts and imports of the `server` module, and the variables of
    /// `shared_router`, where handlers are named.
    Value,
    /// Types of the `models` module, one per named schema.
    Model,
}

/// The types and traits of Rust's prelude: a model of the same name would shadow it for every
/// user of `models`, generated code included, which names them plainly (`Option`, `String`).
const PRELUDE: &[&str] = &[
    "Option", "Result", "Box", "Vec", "String", "ToString", "ToOwned", "Clone", "Copy", "Default", "Drop", "Send",
    "Sync", "Sized", "Unpin", "Fn", "FnMut", "FnOnce", "AsRef", "AsMut", "From", "Into", "TryFrom", "TryInto",
    "Iterator", "IntoIterator", "DoubleEndedIterator", "ExactSizeIterator", "Extend", "FromIterator", "PartialEq",
    "Eq", "PartialOrd", "Ord", "Future", "IntoFuture",
];

/// The constructors of Rust's prelude, which models' code calls (`Ok(())`): a tuple struct of
/// that name would shadow them.
const CONSTRUCTORS: &[&str] = &["Some", "None", "Ok", "Err"];

/// Names the generated crate uses for itself, with what they are (for the warning).
const RESERVED: &[(Space, &str, &str)] = &[
    (Space::Method, "authenticator", "a provided method of `Api`"),
    (Space::Method, "vosi_availability", "a provided method of `Api`"),
    (Space::Method, "vosi_capability", "a provided method of `Api`"),
    // Methods of prelude traits that a service (`Clone`, `Default`) or the `Arc` holding it
    // has: calling an `Api` method of the same name would be ambiguous, or reach those.
    (Space::Method, "clone", "a method of `Clone`, which services implement"),
    (Space::Method, "clone_from", "a method of `Clone`, which services implement"),
    (Space::Method, "clone_into", "a method of `ToOwned`, which services implement"),
    (Space::Method, "to_owned", "a method of `ToOwned`, which services implement"),
    (Space::Method, "default", "a function of `Default`, which the generated tests' service implements"),
    (Space::Method, "drop", "the method of `Drop`"),
    (Space::Method, "into", "a method of `Into`, which every type implements"),
    (Space::Method, "try_into", "a method of `TryInto`, which every type implements"),
    (Space::Method, "as_ref", "a method of `AsRef`, which `Arc` implements"),
    (Space::Value, "router", "a function the generated crate exports"),
    (Space::Value, "router_at", "a function the generated crate exports"),
    (Space::Value, "server", "a function the generated crate exports"),
    (Space::Value, "shared_router", "a function of `server.rs`"),
    (Space::Value, "openapi_json", "a function of `server.rs`"),
    (Space::Value, "gate", "a function of `server.rs`"),
    (Space::Value, "rt", "an import of `server.rs`"),
    (Space::Value, "routing", "an import of `server.rs`"),
    (Space::Value, "service", "a variable of `shared_router`"),
    (Space::Value, "base_path", "a variable of `shared_router`"),
    (Space::Value, "policy", "a variable of `shared_router`"),
    (Space::Value, "quota", "a variable of `shared_router`"),
    (Space::Type, "Api", "the service trait"),
    (Space::Type, "IntoResponse", "an import of `api.rs`"),
    (Space::Type, "Response", "an import of `api.rs`"),
];

/// What an operation is, which decides the names it needs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Roles {
    /// The service implements it: an `Api` method, request and response types, a request helper.
    pub served: bool,
    /// The server routes it: a handler (every operation but the UWS job API's).
    pub routed: bool,
    /// Its parameters are those of UWS jobs: an `Api` method `…_job`.
    pub job: bool,
    /// The document has security schemes: a const of the schemes and a gate variable.
    pub secured: bool,
}

/// Every Rust name of one operation, decided once; the emitters only read them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperationNames {
    /// The `Api` method and the handler in `server.rs` (`list_pets`).
    pub method: String,
    /// The prefix of its types (`ListPets`), also the variant of the generated tests' `Call`.
    pub type_name: String,
    /// `ListPetsRequest`.
    pub request: String,
    /// `ListPetsResponse`.
    pub response: String,
    /// The UWS job method, `list_pets_job`.
    pub job: String,
    /// The function extracting and checking the request, `list_pets_request`.
    pub extractor: String,
    /// The const of the schemes it accepts, `LIST_PETS_SCHEMES`.
    pub schemes: String,
    /// The variable holding its route's gate in `shared_router`, `list_pets_gate`.
    pub gate: String,
}

impl OperationNames {
    fn derive(method: &str) -> Self {
        let type_name = type_name(method);
        OperationNames {
            method: method.to_owned(),
            request: format!("{type_name}Request"),
            response: format!("{type_name}Response"),
            job: format!("{method}_job"),
            extractor: format!("{method}_request"),
            schemes: format!("{}_SCHEMES", method.to_shouty_snake_case()),
            gate: format!("{method}_gate"),
            type_name,
        }
    }

    /// The names this operation occupies, with what each is.
    fn claims(&self, roles: Roles) -> Vec<(Space, &str, &'static str)> {
        let mut out = Vec::new();
        if roles.served {
            out.push((Space::Method, self.method.as_str(), "the `Api` method"));
            out.push((Space::Type, self.request.as_str(), "the request type"));
            out.push((Space::Type, self.response.as_str(), "the response type"));
            out.push((Space::Value, self.extractor.as_str(), "the request helper"));
        }
        if roles.routed {
            out.push((Space::Value, self.method.as_str(), "the handler"));
            if roles.secured {
                out.push((Space::Value, self.gate.as_str(), "the gate variable"));
            }
        }
        if roles.secured && (roles.routed || roles.job) {
            out.push((Space::Value, self.schemes.as_str(), "the schemes const"));
        }
        if roles.job {
            out.push((Space::Method, self.job.as_str(), "the UWS job method"));
        }
        out
    }
}

/// A name an operation could not have, and who has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Renamed {
    /// The name it would have had (`links_request`).
    pub wanted: String,
    /// The name that was taken first (`links_request`, or a derived one).
    pub taken: String,
    /// Who has it (`the request helper in `server.rs` of operation `links``).
    pub by: String,
}

/// Decides the names of operations, in document order, then of models, so that no two generated
/// items collide.
///
/// The rule: an operation's method name is its operationId in `snake_case` (a keyword gets a
/// trailing `_`); every other name derives from it (`OperationNames`). When any name it needs is
/// taken, by an earlier operation or by a name the generated crate uses itself, the method name
/// takes the first suffix `_2`, `_3`, … that frees all of them.
#[derive(Debug, Default)]
pub struct Namer {
    taken: BTreeMap<(Space, String), String>,
    /// The names of the models so far.
    models: BTreeSet<String>,
}

impl Namer {
    /// A namer with the generated crate's own names reserved.
    pub fn new() -> Self {
        let prelude = PRELUDE.iter().map(|name| (Space::Model, *name, "a type or trait of Rust's prelude"));
        let constructors = CONSTRUCTORS.iter().map(|name| (Space::Model, *name, "a constructor of Rust's prelude, which generated code calls"));
        let taken = RESERVED.iter().copied().chain(prelude).chain(constructors).map(|(space, name, what)| ((space, name.to_owned()), what.to_owned())).collect();
        Namer { taken, models: BTreeSet::new() }
    }

    /// The name of the model of a schema (`hint`: its name, or one made from where it is), and
    /// what made it renamed, if it was.
    ///
    /// Models come after every operation has its names. A model never takes a name of the
    /// prelude or of the `api` module (the request and response types, `Api` and its imports):
    /// it gets the first free suffix `2`, `3`, … instead, as a model whose name an earlier model
    /// has does (that one silently: inline schemas are named after where they are, and meet).
    pub fn model(&mut self, hint: &str) -> (String, Option<Renamed>) {
        let wanted = type_name(hint);
        let mut renamed = None;
        let mut n = 1usize;
        loop {
            let name = if n == 1 { wanted.clone() } else { format!("{wanted}{n}") };
            n += 1;
            if self.models.contains(&name) {
                continue;
            }
            let by = [Space::Model, Space::Type].iter().find_map(|space| self.taken.get(&(*space, name.clone())));
            match by {
                Some(by) => {
                    renamed.get_or_insert(Renamed { wanted: wanted.clone(), taken: name, by: by.clone() });
                }
                None => {
                    self.models.insert(name.clone());
                    return (name, renamed);
                }
            }
        }
    }

    /// The names of the operation `api_name`, and what made it renamed, if it was.
    pub fn operation(&mut self, api_name: &str, roles: Roles) -> (OperationNames, Option<Renamed>) {
        let base = field_name(api_name);
        let mut first_clash = None;
        let mut n = 1usize;
        loop {
            let method = if n == 1 { base.clone() } else { format!("{base}_{n}") };
            n += 1;
            let names = OperationNames::derive(&method);
            let claims = names.claims(roles);
            let clash = claims.iter().find_map(|(space, name, _)| self.taken.get(&(*space, (*name).to_owned())).map(|by| (name.to_string(), by.clone())));
            match clash {
                Some((taken, by)) => {
                    first_clash.get_or_insert(Renamed { wanted: base.clone(), taken, by });
                }
                None => {
                    for (space, name, what) in claims {
                        self.taken.insert((space, name.to_owned()), format!("{what} of operation `{api_name}`"));
                    }
                    return (names, first_clash);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collisions_and_keywords() {
        assert_eq!(type_name("pet-store"), "PetStore");
        assert_eq!(type_name("Self"), "Self_");
        assert_eq!(type_name("200"), "V200");
        assert_eq!(type_name(""), "Value");
        assert_eq!(field_name("type"), "type_");
        assert_eq!(field_name("self"), "self_");
        assert_eq!(field_name("petId"), "pet_id");
        assert_eq!(field_name("@id"), "id");
        assert_eq!(field_name("1st"), "_1st");
        let mut taken = Default::default();
        assert_eq!(unique("Pet".into(), &mut taken), "Pet");
        assert_eq!(unique("Pet".into(), &mut taken), "Pet2");
    }

    const SERVED: Roles = Roles { served: true, routed: true, job: false, secured: false };

    #[test]
    fn an_operation_derives_every_name_from_its_method() {
        let mut namer = Namer::new();
        let (names, renamed) = namer.operation("listPets", Roles { job: true, secured: true, ..SERVED });
        assert_eq!(renamed, None);
        assert_eq!(
            names,
            OperationNames {
                method: "list_pets".into(),
                type_name: "ListPets".into(),
                request: "ListPetsRequest".into(),
                response: "ListPetsResponse".into(),
                job: "list_pets_job".into(),
                extractor: "list_pets_request".into(),
                schemes: "LIST_PETS_SCHEMES".into(),
                gate: "list_pets_gate".into(),
            }
        );
    }

    #[test]
    fn a_taken_name_gets_the_first_free_suffix() {
        let mut namer = Namer::new();
        assert_eq!(namer.operation("links", SERVED).0.method, "links");
        let (names, renamed) = namer.operation("linksRequest", SERVED);
        assert_eq!(names.method, "links_request_2");
        assert_eq!(names.request, "LinksRequest2Request");
        let renamed = renamed.expect("renamed");
        assert_eq!((renamed.wanted.as_str(), renamed.taken.as_str()), ("links_request", "links_request"));
        assert_eq!(renamed.by, "the request helper of operation `links`");
        // Document order: the third of the same name takes `_3`.
        assert_eq!(namer.operation("links_request", SERVED).0.method, "links_request_3");
    }

    #[test]
    fn the_crates_own_names_are_reserved() {
        let mut namer = Namer::new();
        for (id, expected) in [("router", "router_2"), ("server", "server_2"), ("authenticator", "authenticator_2"), ("clone", "clone_2"), ("service", "service_2"), ("into", "into_2"), ("gate", "gate_2"), ("quota", "quota_2")] {
            let (names, renamed) = namer.operation(id, SERVED);
            assert_eq!(names.method, expected, "{id}");
            assert!(renamed.is_some(), "{id}");
        }
        // `into` is also `Into::into`; its type would be `IntoResponse`, an import of `api.rs`.
        assert!(Namer::new().taken.contains_key(&(Space::Type, "IntoResponse".to_owned())));
    }

    #[test]
    fn a_model_yields_to_the_prelude_and_to_the_api_modules_types() {
        let mut namer = Namer::new();
        namer.operation("links", SERVED);
        for (hint, expected, by) in [
            ("Result", "Result2", "a type or trait of Rust's prelude"),
            ("Ok", "Ok2", "a constructor of Rust's prelude, which generated code calls"),
            ("LinksRequest", "LinksRequest2", "the request type of operation `links`"),
            ("links_response", "LinksResponse2", "the response type of operation `links`"),
            ("Api", "Api2", "the service trait"),
        ] {
            let (name, renamed) = namer.model(hint);
            assert_eq!(name, expected, "{hint}");
            assert_eq!(renamed.map(|r| r.by).as_deref(), Some(by), "{hint}");
        }
        // Models meet models silently (inline schemas are named after where they are); a name
        // that is free is kept.
        assert_eq!(namer.model("Pet"), ("Pet".to_owned(), None));
        assert_eq!(namer.model("pet"), ("Pet2".to_owned(), None));
        assert_eq!(namer.model("Result").0, "Result3", "`Result2` is a model now");
        assert_eq!(namer.model("Router"), ("Router".to_owned(), None), "`server.rs`'s imports are not in `models`");
    }

    #[test]
    fn only_the_names_an_operation_needs_are_taken() {
        let mut namer = Namer::new();
        // A VOSI operation has a handler but no request helper, and the UWS job list neither.
        namer.operation("capabilities", Roles { served: false, routed: true, ..SERVED });
        namer.operation("jobs", Roles::default());
        assert_eq!(namer.operation("capabilitiesRequest", SERVED).0.method, "capabilities_request");
        assert_eq!(namer.operation("jobs", SERVED).0.method, "jobs");
        // The UWS job method is taken only by the operation whose parameters jobs take.
        namer.operation("sync", Roles { job: true, ..SERVED });
        assert_eq!(namer.operation("syncJob", SERVED).0.method, "sync_job_2");
    }
}
