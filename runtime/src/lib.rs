//! Runtime shared by every server that `ivoagen` generates.
//!
//! Generated crates depend on this crate alone and reach it through [`codegen`], a narrow facade
//! that re-exports what generated code needs. Everything here is hand-written and tested once, so
//! that generated code stays short: it describes *which* parameters an operation has and *which*
//! rules apply, and this crate knows *how* to collect, parse, check and answer.
#![deny(missing_docs)]

pub mod auth;
pub mod dali;
pub mod forwarded;
pub mod health;
pub mod ivoa;
pub mod metrics;
pub mod observe;
pub mod oidc;
pub mod quota;
pub mod response;
pub mod serve;
pub mod upload;
pub mod uws;
pub mod vosi;
pub mod xml;

// What only generated code calls: reached through [`codegen`], free to change between releases.
mod body;
mod docs;
mod endpoint;
mod error;
mod params;
mod validate;

pub use error::{Error, RequestError};

/// The facade through which generated code reaches the runtime and its dependencies: each item
/// it uses, named one by one. Not for hand-written code: it changes with the generator.
///
/// Generated crates name no other crate: serde derives use `#[serde(crate = ...)]` pointing here,
/// so a generated `Cargo.toml` needs one dependency and versions cannot drift apart. `serde`,
/// `serde_json` and `tokio` are whole because derives, `json!` and `#[tokio::test]` expand to
/// paths inside them.
#[doc(hidden)]
pub mod codegen {
    pub use ::serde;
    pub use ::serde_json;
    pub use ::tokio;

    pub use ::axum::body::Body;
    pub use ::bytes::Bytes;
    pub use ::regex::Regex;
    pub use ::uuid::Uuid;

    /// What generated routers, handlers and tests use of axum.
    pub mod axum {
        pub use ::axum::{Router, body, extract, handler, response, routing};
    }

    /// What generated code uses of `chrono` (date and date-time parameters and fields).
    pub mod chrono {
        pub use ::chrono::{DateTime, NaiveDate, Utc};
    }

    /// What generated code uses of `http`.
    pub mod http {
        pub use ::http::{HeaderValue, Request, StatusCode, header, request};
    }

    /// What generated tests use of `tower`.
    pub mod tower {
        pub use ::tower::ServiceExt;
    }

    pub use crate::auth;
    pub use crate::dali;
    pub use crate::endpoint::endpoint;
    pub use crate::error::{Error, RequestError};
    pub use crate::health;
    pub use crate::ivoa::{self, ErrorFormat};
    pub use crate::metrics;
    pub use crate::observe;
    pub use crate::params::{FromParam, Location, RawRequest, Style};
    pub use crate::quota;
    pub use crate::response;
    pub use crate::serve;
    pub use crate::upload;
    pub use crate::uws;
    pub use crate::validate::Validate;
    pub use crate::vosi;
    pub use crate::xml;

    /// Reading request bodies.
    pub mod body {
        pub use crate::body::{Encoding, Kind, form_parameters, json, missing, receive, text, unsupported};
    }

    /// The pages for people.
    pub mod docs {
        pub use crate::docs::merge;
    }

    /// Collecting and parsing parameters.
    pub mod params {
        pub use crate::params::{any_present, file, multi, path_pairs, required, single, single_json};
    }

    /// Checking values against the description's rules.
    pub mod validate {
        pub use crate::validate::{Path, constant, items, length, maximum, minimum, multiple_of, one_of, pattern, properties, unique};
    }

}
