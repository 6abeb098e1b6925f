//! ivoagen: an OpenAPI-first server generator for IVOA services.
pub mod diagnostics;
pub mod load;
pub mod ir;
pub mod lower;
pub mod naming;
