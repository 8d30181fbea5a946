//! Time claims (`exp`, `nbf`; RFC 7519 §4.1.4 and §4.1.5).
//!
//! Values may be integers or floats of any magnitude; comparisons are done
//! in `i128` for integers and `f64` for floats so nothing can overflow.
//! `iat` is not checked.

use serde_json::{Map, Value};

use crate::{Rejection, Status, Validation};

/// A NumericDate as sent.
enum Time {
    Int(i128),
    Float(f64),
}

fn numeric_date(v: &Value) -> Option<Time> {
    let Value::Number(n) = v else { return None };
    if let Some(i) = n.as_i64() {
        Some(Time::Int(i128::from(i)))
    } else if let Some(u) = n.as_u64() {
        Some(Time::Int(i128::from(u)))
    } else {
        n.as_f64().filter(|f| f.is_finite()).map(Time::Float)
    }
}

/// Check `exp` then `nbf` against `v` (signature must already be verified).
pub(crate) fn check(claims: &Map<String, Value>, v: &Validation) -> Result<(), Rejection> {
    check_times(claims.get("exp"), claims.get("nbf"), v)
}

/// [`check`] with the two members given (`None`: the member is absent).
pub(crate) fn check_times(
    exp: Option<&Value>,
    nbf: Option<&Value>,
    v: &Validation,
) -> Result<(), Rejection> {
    let now = v.now;
    let leeway = v.leeway.max(0);
    if let Some(exp) = exp {
        let expired = match numeric_date(exp) {
            // Expired when now >= exp + leeway.
            Some(Time::Int(exp)) => i128::from(now) >= exp.saturating_add(i128::from(leeway)),
            Some(Time::Float(exp)) => now as f64 >= exp + leeway as f64,
            None => {
                return Err(Rejection::new(Status::BadClaim, "exp is not a number"));
            }
        };
        if expired {
            return Err(Rejection::new(Status::Expired, "token has expired"));
        }
    }
    if let Some(nbf) = nbf {
        let early = match numeric_date(nbf) {
            // Not yet valid when now + leeway < nbf.
            Some(Time::Int(nbf)) => i128::from(now).saturating_add(i128::from(leeway)) < nbf,
            Some(Time::Float(nbf)) => (now as f64 + leeway as f64) < nbf,
            None => {
                return Err(Rejection::new(Status::BadClaim, "nbf is not a number"));
            }
        };
        if early {
            return Err(Rejection::new(
                Status::NotYetValid,
                "token is not yet valid (nbf)",
            ));
        }
    }
    Ok(())
}
