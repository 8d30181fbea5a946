//! The Dify gateway's test kit: the pieces shared by the `dify-standin` server, the
//! `jwks-export` tool and the end-to-end tests in `tests/e2e.rs`.
//!
//! - [`http`]: HTTP/1.x heads, bodies (length, chunked, until close), responses;
//! - [`ws`]: the WebSocket handshake key and framing (client and server side);
//! - [`sse`]: server-sent events, written and read incrementally;
//! - [`jwks`]: public JWK / JWKS export of PEM keys;
//! - [`client`]: writing requests and running a WebSocket client handshake.
//!
//! Everything that reads from the network bounds its sizes and reports bad input as an
//! error instead of panicking.

#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)
)]

pub mod client;
pub mod http;
pub mod jwks;
pub mod sse;
pub mod ws;
