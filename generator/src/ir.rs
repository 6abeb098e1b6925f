//! The intermediate representation: what the server will be, independent of how the spec said it.
//!
//! Every node carries its Rust name and its API name, and where it came from in the spec. Types
//! live in an arena ([`Api::types`]) keyed by [`TypeId`], so recursive schemas need no cycles of
//! pointers; the lowering decides which fields are boxed.

use crate::source::Span;

/// The whole API: what one generated crate serves.
#[derive(Debug, Clone)]
pub struct Api {
    /// `info.title`.
    pub title: String,
    /// `info.version`.
    pub version: String,
    /// `info.description`.
    pub description: Option<String>,
    /// Every operation, in document order.
    pub operations: Vec<Operation>,
    /// Every named type; [`TypeId`] indexes this.
    pub types: Vec<TypeDef>,
    /// The document the server publishes at `openapi.json`.
    pub openapi_json: String,
    /// `x-ivoa-uws`: a UWS job list answered by the runtime.
    pub uws: Option<Uws>,
    /// Where the server mounts its routes unless told otherwise: the path of the first
    /// `servers` URL, without a trailing slash (empty for none).
    pub base_path: String,
    /// `components.securitySchemes` this generator enforces, in document order.
    pub security_schemes: Vec<SecurityScheme>,
}

/// A security scheme and the AuthVO challenge sent for it.
#[derive(Debug, Clone, PartialEq)]
pub struct SecurityScheme {
    /// Its name in `components.securitySchemes`.
    pub name: String,
    /// How credentials arrive.
    pub kind: SchemeKind,
    /// The challenge's auth-scheme.
    pub challenge: String,
    /// The challenge's parameters.
    pub parameters: Vec<(String, String)>,
}

/// How a scheme's credentials arrive: exactly the kinds the runtime reads (`rt::auth::SchemeKind`).
/// A scheme of any other kind is not lowered, and an operation requiring it is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemeKind {
    /// `Authorization: Bearer TOKEN` (http bearer, oauth2, openIdConnect).
    Bearer,
    /// `Authorization: Basic …` (http basic).
    Basic,
    /// A session cookie of this name (apiKey in a cookie).
    Cookie(String),
    /// A client certificate, checked by a TLS-terminating proxy (mutualTLS).
    ClientCertificate,
}

/// An operation's security: its modality and the schemes it accepts (indexes into
/// [`Api::security_schemes`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Security {
    /// Whether anonymous requests are served.
    pub modality: Modality,
    /// The schemes, in the order of the requirements.
    pub schemes: Vec<usize>,
}

/// An AuthVO modality, as the runtime enforces it (`rt::auth::Modality`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    /// No requirement (`security: []`): no challenge is sent; credentials still name the caller.
    None,
    /// `{}` among the requirements: anonymous requests are served, with the challenges.
    Optional,
    /// Anonymous requests are refused with 401 and every challenge.
    Required,
}

/// `x-ivoa-uws: {jobs: /async, parameters: sodaSync}`: the job list at `jobs` (it and every path
/// below it are answered by the runtime's UWS engine), whose jobs take the parameters of the
/// operation `parameters`; the service implements that operation's `…_job` method.
#[derive(Debug, Clone)]
pub struct Uws {
    /// The job list's path.
    pub jobs: String,
    /// Index in [`Api::operations`] of the operation whose parameters a job takes.
    pub operation: usize,
    /// `standard-id`: the capability of the job list (`ivo://ivoa.net/std/SODA#async-1.0`).
    pub standard_id: Option<String>,
}

/// Index of a type in [`Api::types`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TypeId(pub usize);

/// A named Rust type generated for a schema.
#[derive(Debug, Clone)]
pub struct TypeDef {
    /// The Rust identifier.
    pub name: String,
    /// Where the schema is (`components/schemas/Pet`, or the inline place).
    pub api_name: String,
    /// `description` of the schema.
    pub doc: Option<String>,
    /// What kind of type it is.
    pub kind: TypeKind,
    /// Where the schema is.
    pub span: Span,
    /// The schema's `xml` object, if it has one.
    pub xml: Option<Xml>,
    /// Whether an operation the service implements can reach it (through its parameters, body,
    /// responses and response headers, transitively), so that `models.rs` holds it. The others,
    /// the UWS and VOSI documents the runtime writes itself, are lowered but not emitted.
    pub reachable: bool,
}

/// An OpenAPI `xml` object (name, namespace, prefix, attribute, wrapped), plus `x-ivoa-text`:
/// the property is the element's text content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Xml {
    /// `name`.
    pub name: Option<String>,
    /// `namespace`.
    pub namespace: Option<String>,
    /// `prefix`.
    pub prefix: Option<String>,
    /// `attribute: true`.
    pub attribute: bool,
    /// `wrapped: true` (arrays).
    pub wrapped: bool,
    /// `x-ivoa-text: true`.
    pub text: bool,
}

/// The shape of a named type.
#[derive(Debug, Clone)]
pub enum TypeKind {
    /// An object with known properties.
    Struct {
        /// The properties.
        fields: Vec<Field>,
        /// Type of the values of other properties, when `additionalProperties` allows them.
        additional: Option<Ty>,
        /// `additionalProperties: false`.
        deny_unknown: bool,
    },
    /// A string `enum`.
    StringEnum {
        /// The allowed values.
        variants: Vec<Variant>,
    },
    /// `oneOf`/`anyOf`: one of several shapes.
    Union {
        /// The alternatives, in document order.
        variants: Vec<UnionVariant>,
        /// The discriminating property, when the spec declares one.
        discriminator: Option<String>,
    },
    /// `prefixItems`: a fixed-length array with a type per position.
    Tuple(Vec<Ty>),
    /// A named wrapper around another type (a schema that refers to itself through arrays).
    Newtype(Ty),
}

/// One value of a string enum.
#[derive(Debug, Clone)]
pub struct Variant {
    /// The Rust variant name.
    pub name: String,
    /// The value on the wire.
    pub api_name: String,
}

/// One alternative of a union.
#[derive(Debug, Clone)]
pub struct UnionVariant {
    /// The Rust variant name.
    pub name: String,
    /// The type it holds.
    pub ty: Ty,
    /// The discriminator value that selects it.
    pub tag: Option<String>,
}

/// A property of an object.
#[derive(Debug, Clone)]
pub struct Field {
    /// The Rust field name.
    pub name: String,
    /// The property name on the wire.
    pub api_name: String,
    /// The type, already wrapped in `Option` when the property is optional or nullable.
    pub ty: Ty,
    /// Whether the property is in `required`.
    pub required: bool,
    /// Whether the type is boxed to break a cycle.
    pub boxed: bool,
    /// The property's constraints.
    pub constraints: Constraints,
    /// `description`.
    pub doc: Option<String>,
    /// The property's `xml` object.
    pub xml: Xml,
}

/// A Rust type reference.
#[derive(Debug, Clone, PartialEq)]
pub enum Ty {
    /// `bool`.
    Bool,
    /// `i32` (`format: int32`).
    I32,
    /// `i64` (`integer`).
    I64,
    /// `f32` (`format: float`).
    F32,
    /// `f64` (`number`).
    F64,
    /// `String`.
    String,
    /// `chrono::NaiveDate` (`format: date`).
    Date,
    /// `chrono::DateTime<Utc>` (`format: date-time`).
    DateTime,
    /// `uuid::Uuid` (`format: uuid`).
    Uuid,
    /// `bytes::Bytes` (`format: binary`, or a binary body).
    Binary,
    /// `axum::body::Body`: a binary response body, which the service may stream.
    Body,
    /// `serde_json::Value`: anything.
    Json,
    /// A DALI value type (`x-ivoa-xtype`), parsed from its DALI syntax.
    Dali(DaliType),
    /// A generated type.
    Named(TypeId),
    /// `Vec<T>`.
    Vec(Box<Ty>),
    /// `BTreeMap<String, T>`.
    Map(Box<Ty>),
    /// `Option<T>`.
    Option(Box<Ty>),
}

impl Ty {
    /// The type inside `Option`, or the type itself.
    pub fn unwrap_option(&self) -> &Ty {
        match self {
            Ty::Option(inner) => inner,
            other => other,
        }
    }

    /// Whether values of this type are numbers.
    pub fn is_number(&self) -> bool {
        matches!(self, Ty::I32 | Ty::I64 | Ty::F32 | Ty::F64)
    }

    /// The named type this refers to, through `Vec`, maps and `Option`.
    pub fn named(&self) -> Option<TypeId> {
        match self {
            Ty::Named(id) => Some(*id),
            Ty::Vec(inner) | Ty::Map(inner) | Ty::Option(inner) => inner.named(),
            _ => None,
        }
    }
}

impl TypeKind {
    /// The types a value of this kind holds directly: fields and additional properties,
    /// alternatives, positions, the wrapped type.
    pub fn parts(&self) -> Vec<&Ty> {
        match self {
            TypeKind::Struct { fields, additional, .. } => fields.iter().map(|f| &f.ty).chain(additional).collect(),
            TypeKind::Union { variants, .. } => variants.iter().map(|v| &v.ty).collect(),
            TypeKind::Tuple(tys) => tys.iter().collect(),
            TypeKind::Newtype(ty) => vec![ty],
            TypeKind::StringEnum { .. } => Vec::new(),
        }
    }
}

/// The DALI value types of `x-ivoa-xtype`, each a type in `ivoagen_runtime::dali`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaliType {
    /// `circle`: `lon lat radius`.
    Circle,
    /// `polygon`: `lon lat` pairs, at least three.
    Polygon,
    /// `range`: `lon1 lon2 lat1 lat2`.
    Range,
    /// `interval`: `lo hi`, ends may be infinite.
    Interval,
    /// `point`: `lon lat`.
    Point,
    /// `shape` (also SODA's `POS`): `CIRCLE …`, `RANGE …` or `POLYGON …`.
    Shape,
    /// `timestamp`: `YYYY-MM-DD['T'hh:mm:ss[.SSS]]`.
    Timestamp,
}

impl DaliType {
    /// Every xtype, with its name in the vocabulary.
    pub const ALL: [(&'static str, DaliType); 7] = [
        ("circle", DaliType::Circle),
        ("polygon", DaliType::Polygon),
        ("range", DaliType::Range),
        ("interval", DaliType::Interval),
        ("point", DaliType::Point),
        ("shape", DaliType::Shape),
        ("timestamp", DaliType::Timestamp),
    ];

    /// The Rust type's name in `ivoagen_runtime::dali`.
    pub fn rust_name(self) -> &'static str {
        match self {
            DaliType::Circle => "Circle",
            DaliType::Polygon => "Polygon",
            DaliType::Range => "Range",
            DaliType::Interval => "Interval",
            DaliType::Point => "Point",
            DaliType::Shape => "Shape",
            DaliType::Timestamp => "Timestamp",
        }
    }
}

/// How an operation writes its errors (`x-ivoa-error-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorFormat {
    /// `json`: `{"error", "parameter", "message"}` (the default).
    Json,
    /// `soda-text`: text/plain starting with the SODA label.
    SodaText,
    /// `dali-votable`: a VOTable with `QUERY_STATUS` = `ERROR`.
    DaliVotable,
    /// `scs-votable`: Simple Cone Search 1.03's VOTable, `INFO name="Error"` (§2 item 3), with
    /// DALI's `QUERY_STATUS` beside it.
    ScsVotable,
}

/// A VOSI endpoint the runtime answers (`x-ivoa-vosi`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vosi {
    /// `capabilities`: the endpoints and their standardIDs.
    Capabilities,
    /// `availability`.
    Availability,
}

/// JSON Schema validation keywords that the Rust type does not already enforce.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Constraints {
    /// `minimum`, and whether it is exclusive.
    pub minimum: Option<(f64, bool)>,
    /// `maximum`, and whether it is exclusive.
    pub maximum: Option<(f64, bool)>,
    /// `multipleOf`.
    pub multiple_of: Option<f64>,
    /// `minLength`.
    pub min_length: Option<u64>,
    /// `maxLength`.
    pub max_length: Option<u64>,
    /// `pattern` (already checked to compile).
    pub pattern: Option<String>,
    /// `minItems`.
    pub min_items: Option<u64>,
    /// `maxItems`.
    pub max_items: Option<u64>,
    /// `uniqueItems: true`.
    pub unique_items: bool,
    /// `minProperties` / `maxProperties`.
    pub properties: Option<(Option<u64>, Option<u64>)>,
    /// `const`.
    pub constant: Option<serde_json::Value>,
    /// `enum` on a type that is not a generated enum (numbers, mixed values).
    pub one_of: Option<Vec<serde_json::Value>>,
    /// Constraints on each item of an array.
    pub items: Option<Box<Constraints>>,
}

impl Constraints {
    /// Whether there is nothing to check.
    pub fn is_empty(&self) -> bool {
        *self == Constraints::default()
    }
}

/// One API operation: a method of the generated trait.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `operationId`, or one made from the method and path.
    pub api_name: String,
    /// The method of `Api`, and the handler in `server.rs` (`list_pets`).
    ///
    /// This and every other Rust name of the operation are decided once, by `naming::Namer`
    /// during lowering, so that they collide neither with each other nor with what the generated
    /// crate names itself; emitters read them and never format their own.
    pub name: String,
    /// The prefix of its types (`ListPets`), and its variant in the generated tests' `Call`.
    pub type_name: String,
    /// The request struct in `api` (`ListPetsRequest`).
    pub request_type: String,
    /// The response enum in `api` (`ListPetsResponse`).
    pub response_type: String,
    /// The `Api` method running one UWS job, for the operation whose parameters jobs take
    /// (`list_pets_job`).
    pub job_method: String,
    /// The function in `server.rs` extracting and checking the request (`list_pets_request`).
    pub extractor: String,
    /// The const in `server.rs` listing the schemes the operation accepts (`LIST_PETS_SCHEMES`).
    pub schemes_const: String,
    /// The variable in `server.rs` holding the gate of the route it is first on (`list_pets_gate`).
    pub gate: String,
    /// HTTP method, lower case.
    pub method: String,
    /// The path template as the spec writes it.
    pub path: String,
    /// The route registered with the router (shared by every operation on the same path).
    pub route: String,
    /// `summary` and `description`.
    pub doc: Option<String>,
    /// Parameters in path, query, header and cookie.
    pub params: Vec<Param>,
    /// The request body.
    pub body: Option<RequestBody>,
    /// The declared responses.
    pub responses: Vec<Response>,
    /// Where the operation is.
    pub span: Span,
    /// `x-ivoa-case-insensitive`: query and form parameter names ignore case.
    pub case_insensitive: bool,
    /// `x-ivoa-sync`: DALI-sync, served by GET and POST (form or multipart) alike.
    pub dali_sync: bool,
    /// `x-ivoa-base-url`: the request carries the service's URL as the client sees it, for
    /// building absolute links (DataLink access URLs, say).
    pub base_url: bool,
    /// The operation's `security` (or the document's), when the document has security schemes
    /// the runtime enforces.
    pub security: Option<Security>,
    /// Whether the request carries its caller (`caller`: the authenticated identity and its
    /// groups): an operation with `security`.
    pub caller: bool,
    /// `x-ivoa-groups`: when not empty, only callers in one of these groups are served (an
    /// anonymous one gets 401, an authenticated non-member 403 `AuthorizationError`), whatever
    /// `security`'s modality; the operations of a route name the same groups.
    pub groups: Vec<String>,
    /// `x-ivoa-error-format`.
    pub error_format: ErrorFormat,
    /// `x-ivoa-standard-id`: the capability this endpoint implements, for VOSI.
    pub standard_id: Option<String>,
    /// Whether the request carries the multipart body's file parts (`uploads`), which DALI
    /// UPLOAD's `param:PART` names: a DALI-sync operation with an `UPLOAD` parameter.
    pub uploads: bool,
    /// `x-ivoa-access-path`: the path VOSI capabilities give as the capability's access URL,
    /// when not the operation's own (TAP's is the service's base, `""`).
    pub access_path: Option<String>,
    /// `x-ivoa-interface-version`: the version of the standard's interface (`1.1`).
    pub interface_version: Option<String>,
    /// `x-ivoa-vosi`: the runtime answers this operation; it is not part of the trait.
    pub vosi: Option<Vosi>,
    /// Part of the UWS job API of `x-ivoa-uws`: the runtime answers it.
    pub uws: bool,
}

impl Operation {
    /// Whether the service implements this operation (rather than the runtime).
    pub fn served(&self) -> bool {
        self.vosi.is_none() && !self.uws
    }
}

/// Where a parameter travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    /// Path segment.
    Path,
    /// Query string.
    Query,
    /// Header.
    Header,
    /// Cookie.
    Cookie,
    /// A field of a form or multipart body.
    Form,
}

/// How an array parameter is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrayStyle {
    /// One pair per value.
    Exploded,
    /// Comma-separated.
    Comma,
    /// Space-separated.
    Space,
    /// Pipe-separated.
    Pipe,
}

/// How an object parameter is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectStyle {
    /// `deepObject`: `name[prop]=value`.
    Deep,
    /// `form` exploded: `prop=value`.
    Exploded,
}

/// A parameter's shape, which decides how it is collected.
#[derive(Debug, Clone)]
pub enum ParamShape {
    /// One value.
    Scalar,
    /// Several values.
    Array(ArrayStyle),
    /// An object spread over several keys; the type must be a struct.
    Object(ObjectStyle),
    /// A value written as JSON (`content: application/json`).
    Json,
}

/// A request parameter, or a field of a form body.
#[derive(Debug, Clone)]
pub struct Param {
    /// The name on the wire.
    pub api_name: String,
    /// The Rust field name.
    pub name: String,
    /// Where it travels.
    pub location: Location,
    /// Whether the request must carry it.
    pub required: bool,
    /// How it is written.
    pub shape: ParamShape,
    /// The Rust type of one value (for arrays: of the whole array), before `Option`.
    pub ty: Ty,
    /// Constraints on the value.
    pub constraints: Constraints,
    /// `description`.
    pub doc: Option<String>,
    /// An example value that satisfies the schema, for the generated tests.
    pub example: Option<serde_json::Value>,
    /// The schema's `default` of an optional scalar parameter of a number, boolean or string
    /// type: its field is then the value (the default when the request has none), not an `Option`.
    pub default: Option<serde_json::Value>,
    /// Where it is declared.
    pub span: Span,
}

impl Param {
    /// Whether the request struct's field always has a value: required, or defaulted.
    pub fn always_present(&self) -> bool {
        self.required || self.default.is_some()
    }
}

/// How a request body is decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// JSON into the body type.
    Json,
    /// `application/x-www-form-urlencoded`, field by field.
    Form,
    /// `multipart/form-data`, field by field.
    Multipart,
    /// UTF-8 text into a `String`.
    Text,
    /// The bytes as they are.
    Binary,
}

/// One accepted media type of a request body.
#[derive(Debug, Clone)]
pub struct BodyEncoding {
    /// The media type (or range) as declared.
    pub media_type: String,
    /// How it is decoded.
    pub kind: BodyKind,
}

/// A request body.
#[derive(Debug, Clone)]
pub struct RequestBody {
    /// Whether it must be present.
    pub required: bool,
    /// The Rust type it decodes to.
    pub ty: Ty,
    /// The accepted media types, in document order.
    pub encodings: Vec<BodyEncoding>,
    /// When a form or multipart encoding is accepted: the fields of the body type.
    pub form_fields: Vec<Param>,
    /// An example that satisfies the schema, for the generated tests.
    pub example: Option<serde_json::Value>,
    /// `description`.
    pub doc: Option<String>,
}

/// The status a response is declared for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// One code.
    Code(u16),
    /// `2XX` and the like: the first digit.
    Range(u16),
    /// `default`.
    Default,
}

/// How a response body is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseKind {
    /// Serialised as JSON.
    Json,
    /// A generated model written as XML from its schemas' `xml` objects.
    Xml,
    /// A `String` sent as it is (text, HTML, XML written by the service).
    Text,
    /// Bytes sent as they are.
    Binary,
}

/// The body of a response variant.
#[derive(Debug, Clone)]
pub struct ResponseBody {
    /// The media type sent in `Content-Type`.
    pub media_type: String,
    /// Its variant in the response's body enum, when the response declares several media
    /// types (`Csv` for `text/csv`).
    pub variant: String,
    /// How it is written.
    pub kind: ResponseKind,
    /// The Rust type the implementation returns.
    pub ty: Ty,
    /// For XML models: the qualified name of the root element (`uws:job`).
    pub xml_root: Option<String>,
    /// An example that satisfies the schema, for the generated tests.
    pub example: Option<serde_json::Value>,
}

/// A declared response header.
#[derive(Debug, Clone)]
pub struct ResponseHeader {
    /// The header name on the wire.
    pub api_name: String,
    /// The Rust field name.
    pub name: String,
    /// Whether the implementation must provide it.
    pub required: bool,
    /// Its type.
    pub ty: Ty,
}

/// A variant of an operation's response enum.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status it is declared for.
    pub status: Status,
    /// The Rust variant name (`Ok`, `NotFound`, `Default`).
    pub variant: String,
    /// `description`.
    pub doc: Option<String>,
    /// The bodies, one per declared media type in the description's order (the first is the
    /// default); empty for none.
    pub bodies: Vec<ResponseBody>,
    /// With several media types: the name of the enum whose variants are the bodies
    /// (`TapSyncOkBody`), which the service chooses from.
    pub body_enum: Option<String>,
    /// Declared headers.
    pub headers: Vec<ResponseHeader>,
}
