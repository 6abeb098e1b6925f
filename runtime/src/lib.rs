//! Runtime shared by every server that `ivoagen` generates.
//!
//! Generated crates depend on this crate alone and reach it through [`codegen`], a narrow facade
//! that re-exports what generated code needs. Everything here is hand-written and tested once, so
//! that generated code stays short: it describes *which* parameters an operation has and *which*
//! rules apply, and this crate knows *how* to collect, parse, check and answer.
#![deny(missing_docs)]

pub mod auth;
pub mod body;
pub mod dali;
pub mod docs;
pub mod endpoint;
pub mod error;
pub mod forwarded;
pub mod ivoa;
pub mod params;
pub mod response;
pub mod serve;
pub mod uws;
pub mod validate;
pub mod vosi;
pub mod xml;

pub use error::{Error, RequestError};

/// The facade through which generated code reaches the runtime and its dependencies.
///
/// Generated crates name no other crate: serde derives use `#[serde(crate = ...)]` pointing here,
/// so a generated `Cargo.toml` needs one dependency and versions cannot drift apart.
pub mod codegen {
    pub use ::axum;
    pub use ::axum::body::Body;
    pub use ::bytes::Bytes;
    pub use ::chrono;
    pub use ::http;
    pub use ::regex::Regex;
    pub use ::serde;
    pub use ::serde_json;
    pub use ::tokio;
    pub use ::tower;
    pub use ::uuid::Uuid;

    pub use crate::auth;
    pub use crate::body;
    pub use crate::dali;
    pub use crate::docs;
    pub use crate::endpoint::endpoint;
    pub use crate::ivoa::{self, ErrorFormat};
    pub use crate::uws;
    pub use crate::vosi;
    pub use crate::xml;
    pub use crate::error::{Error, RequestError};
    pub use crate::params::{self, FromParam, Location, RawRequest, Style};
    pub use crate::response;
    pub use crate::serve;
    pub use crate::validate::{self, Validate};
}
