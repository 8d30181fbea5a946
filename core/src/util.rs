//! Helpers for the nginx glue: claim rendering, nested lookup, the
//! `Authorization: Bearer` header and `auth_jwt_require` truthiness.

use serde_json::{Map, Value};

/// Render a claim value for an nginx variable.
///
/// A string is returned as-is; a number or boolean as its JSON text; `null`
/// as the empty string; an array as its elements rendered with these same
/// rules (nested arrays and objects as compact JSON) joined by `,`; an object
/// as compact JSON.
pub fn render(v: &Value) -> String {
    match v {
        Value::Array(items) => items
            .iter()
            .map(render_scalar_or_json)
            .collect::<Vec<_>>()
            .join(","),
        other => render_scalar_or_json(other),
    }
}

fn render_scalar_or_json(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(_) | Value::Object(_) => serde_json::to_string(v).unwrap_or_default(),
    }
}

/// Follow a path of member names from the root object, e.g.
/// `["realm_access", "roles"]`. An empty path, a missing member or a
/// non-object on the way yields `None`.
pub fn lookup<'a>(root: &'a Map<String, Value>, path: &[&str]) -> Option<&'a Value> {
    let (first, rest) = path.split_first()?;
    let mut current = root.get(*first)?;
    for name in rest {
        current = current.as_object()?.get(*name)?;
    }
    Some(current)
}

/// Extract the credentials of an `Authorization` header value.
///
/// The scheme `Bearer` is matched case-insensitively and must be followed by
/// at least one space or tab; further spaces/tabs are skipped and trailing
/// ones trimmed. Returns `None` for another scheme or empty credentials.
pub fn bearer_token(authorization: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"Bearer";
    let is_blank = |b: &u8| *b == b' ' || *b == b'\t';
    // "Bearer" in any case, compared as two words: OR-ing 0x20 into a byte lowercases a letter
    // and maps no other byte to a lowercase letter, so for a pattern of letters this is exactly
    // an ASCII case-insensitive comparison.
    let (Some(&[a, b, c, d]), Some(&[e, f])) = (authorization.get(..4), authorization.get(4..6))
    else {
        return None;
    };
    if u32::from_le_bytes([a, b, c, d]) | 0x2020_2020 != u32::from_le_bytes(*b"bear")
        || u16::from_le_bytes([e, f]) | 0x2020 != u16::from_le_bytes(*b"er")
    {
        return None;
    }
    let rest = authorization.get(SCHEME.len()..)?;
    let skipped = rest.iter().take_while(|b| is_blank(b)).count();
    if skipped == 0 {
        return None;
    }
    let credentials = rest.get(skipped..)?;
    let end = credentials
        .iter()
        .rposition(|b| !is_blank(b))
        .map_or(0, |i| i.saturating_add(1));
    let credentials = credentials.get(..end)?;
    if credentials.is_empty() {
        None
    } else {
        Some(credentials)
    }
}

/// `auth_jwt_require` semantics: true when non-empty and not `"0"`.
pub fn is_truthy(v: &[u8]) -> bool {
    !v.is_empty() && v != b"0"
}

/// The `WWW-Authenticate` value of a 401 (RFC 6750): `Bearer realm="..."`, with
/// `, error="invalid_token"` when a token was presented and refused.
///
/// The realm can come from variables (`auth_jwt "api $uri"`; `$uri` is decoded, so a client
/// can put CR and LF in it). Control characters (below 0x20, and DEL) are dropped: a quoted
/// string may not carry them even escaped (RFC 9110, section 5.6.4), and CR/LF would end the
/// header. `"` and `\` are escaped with `\`.
pub fn www_authenticate(realm: &[u8], invalid_token: bool) -> Vec<u8> {
    let mut value = Vec::with_capacity(realm.len().saturating_add(48));
    value.extend_from_slice(b"Bearer realm=\"");
    for &b in realm {
        match b {
            0..=0x1f | 0x7f => {}
            b'"' | b'\\' => value.extend_from_slice(&[b'\\', b]),
            _ => value.push(b),
        }
    }
    value.push(b'"');
    if invalid_token {
        value.extend_from_slice(b", error=\"invalid_token\"");
    }
    value
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn www_authenticate_quotes_the_realm_and_drops_control_characters() {
        assert_eq!(www_authenticate(b"api", false), b"Bearer realm=\"api\"");
        assert_eq!(
            www_authenticate(b"a\"b\\c", true),
            b"Bearer realm=\"a\\\"b\\\\c\", error=\"invalid_token\""
        );
        let evil = b"r /\r\nSet-Cookie: a=b\x00\t\x1f\x7f\xc3\xa9";
        let v = www_authenticate(evil, false);
        assert_eq!(v, "Bearer realm=\"r /Set-Cookie: a=b\u{e9}\"".as_bytes());
        assert!(!v.iter().any(|&c| c < 0x20 || c == 0x7f));
    }
}
