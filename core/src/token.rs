//! The token a successful validation returns, with its header and claims built on demand.

use std::cell::OnceCell;

use serde_json::{Map, Value};

use crate::alg::Alg;
use crate::json;

/// A token that passed [`crate::verify`] (or [`crate::verify_typed`]).
///
/// A signed token keeps its header and payload as they were sent and builds the header and
/// claims objects only when [`Token::header`] or [`Token::claims`] is first called (the same
/// bytes passed the strict checks when the token was verified, or when the verdict the
/// verified-token cache answered with was stored).
#[derive(Clone)]
pub struct Token {
    /// The compact token answered from the cache (empty otherwise): the texts below are
    /// decoded from it on demand.
    raw: OnceCell<Vec<u8>>,
    header_text: OnceCell<String>,
    // Boxed: built only when a variable asks, and a token moves (into the request's state)
    // more cheaply without two maps inline.
    header: OnceCell<Box<Map<String, Value>>>,
    claims: OnceCell<Box<Map<String, Value>>>,
    payload: OnceCell<String>,
    alg: OnceCell<&'static str>,
}

/// Leaves out `raw`: it is the whole bearer token, signature included, which must never reach
/// a log.
impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("header", &self.header.get())
            .field("claims", &self.claims.get())
            .field("payload", &self.payload.get())
            .field("alg", &self.alg.get())
            .finish_non_exhaustive()
    }
}

impl Token {
    pub(crate) fn new(
        header: Map<String, Value>,
        claims: Map<String, Value>,
        payload: String,
        alg: &'static str,
    ) -> Self {
        Token {
            raw: OnceCell::new(),
            header_text: OnceCell::new(),
            header: OnceCell::from(Box::new(header)),
            claims: OnceCell::from(Box::new(claims)),
            payload: OnceCell::from(payload),
            alg: OnceCell::from(alg),
        }
    }

    /// A token whose header and payload texts already passed every check: parsed on demand.
    pub(crate) fn unparsed(header_text: String, payload: String, alg: &'static str) -> Self {
        Token {
            raw: OnceCell::new(),
            header_text: OnceCell::from(header_text),
            header: OnceCell::new(),
            claims: OnceCell::new(),
            payload: OnceCell::from(payload),
            alg: OnceCell::from(alg),
        }
    }

    /// A token known to be valid from its verdict in the cache, decoded on demand, without its
    /// bytes yet: the caller, which keeps them, hands them over
    /// with [`Token::provide_raw`] before the header or claims are read, so a cache hit whose
    /// claims nobody reads copies nothing.
    pub(crate) fn cached_unfilled() -> Self {
        Token {
            raw: OnceCell::new(),
            header_text: OnceCell::new(),
            header: OnceCell::new(),
            claims: OnceCell::new(),
            payload: OnceCell::new(),
            alg: OnceCell::new(),
        }
    }

    /// Hands a token answered from the cache ([`crate::verify_cached_with`]) the bytes it was
    /// answered for; they are copied on the first call, and never for a token that was
    /// decoded when it was verified. Must be the same bytes that were verified.
    pub fn provide_raw(&self, token: &[u8]) {
        if self.header_text.get().is_none() && self.payload.get().is_none() {
            self.raw.get_or_init(|| token.to_vec());
        }
    }

    /// The same token with another `payload` text (a nested token reports its enclosed JWS).
    /// The claims are built first, from the payload they were sent in.
    pub(crate) fn with_payload(mut self, payload: String) -> Self {
        self.claims();
        self.payload = OnceCell::from(payload);
        self
    }

    /// Segment `index` of `raw`, decoded (empty if it does not decode, which cannot happen
    /// for bytes whose verdict was stored).
    fn decode_raw(&self, index: usize) -> String {
        self.raw
            .get()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .split(|&b| b == b'.')
            .nth(index)
            .and_then(crate::b64::decode)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_default()
    }

    fn header_text(&self) -> &str {
        self.header_text.get_or_init(|| self.decode_raw(0))
    }

    /// The JOSE header (for an encrypted JWT, the JWE protected header).
    pub fn header(&self) -> &Map<String, Value> {
        self.header.get_or_init(|| {
            Box::new(json::parse_object(self.header_text().as_bytes()).unwrap_or_default())
        })
    }

    /// The claims (payload object).
    pub fn claims(&self) -> &Map<String, Value> {
        self.claims.get_or_init(|| {
            Box::new(json::parse_object(self.payload().as_bytes()).unwrap_or_default())
        })
    }

    /// The decoded payload JSON text exactly as sent (not re-serialised).
    pub fn payload(&self) -> &str {
        self.payload.get_or_init(|| self.decode_raw(1))
    }

    /// The header `alg`, one of the supported algorithm names (for an encrypted JWT, the JWE
    /// key management algorithm, e.g. `RSA-OAEP-256`).
    pub fn alg(&self) -> &str {
        self.alg.get_or_init(|| {
            match self
                .header()
                .get("alg")
                .and_then(Value::as_str)
                .and_then(Alg::from_name)
            {
                Some(alg) => alg.name(),
                None => "",
            }
        })
    }
}
