//! Time claims (`exp`, `nbf`; RFC 7519 §4.1.4 and §4.1.5).
//!
//! Values may be integers or floats of any magnitude; comparisons are done
//! in `i128` for integers and `f64` for floats so nothing can overflow.
//! `iat` is not checked.

use serde_json::{Map, Value};

use crate::error::{Rejection, Status};

/// Time parameters for claim checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Validation {
    /// Current time, unix seconds.
    pub now: i64,
    /// Allowed clock skew in seconds (negative values count as 0).
    pub leeway: i64,
}

/// A NumericDate as sent: JSON integers are kept exactly (`i64` or `u64` range), other numbers
/// as `f64`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum NumericDate {
    /// An integer that fits `i64`.
    Int(i64),
    /// An integer above `i64::MAX` (up to `u64::MAX`).
    UInt(u64),
    /// Any other number (finite).
    Float(f64),
}

impl NumericDate {
    /// `None` if `v` is not a number.
    fn of(v: &Value) -> Option<NumericDate> {
        let Value::Number(n) = v else { return None };
        if let Some(i) = n.as_i64() {
            Some(NumericDate::Int(i))
        } else if let Some(u) = n.as_u64() {
            Some(NumericDate::UInt(u))
        } else {
            n.as_f64().filter(|f| f.is_finite()).map(NumericDate::Float)
        }
    }

    /// Expired when now >= exp + leeway.
    fn expired(self, now: i64, leeway: i64) -> bool {
        match self.int() {
            Some(exp) => i128::from(now) >= exp.saturating_add(i128::from(leeway)),
            None => now as f64 >= self.float() + leeway as f64,
        }
    }

    /// Not yet valid when now + leeway < nbf.
    fn early(self, now: i64, leeway: i64) -> bool {
        match self.int() {
            Some(nbf) => i128::from(now).saturating_add(i128::from(leeway)) < nbf,
            None => (now as f64 + leeway as f64) < self.float(),
        }
    }

    fn int(self) -> Option<i128> {
        match self {
            NumericDate::Int(i) => Some(i128::from(i)),
            NumericDate::UInt(u) => Some(i128::from(u)),
            NumericDate::Float(_) => None,
        }
    }

    fn float(self) -> f64 {
        match self {
            NumericDate::Int(i) => i as f64,
            NumericDate::UInt(u) => u as f64,
            NumericDate::Float(f) => f,
        }
    }
}

/// The `exp` and `nbf` of a verified token (`None`: absent), kept with its verdict by the
/// verified-token cache so that a hit checks them again without decoding the token.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct TimeClaims {
    /// `exp`.
    pub exp: Option<NumericDate>,
    /// `nbf`.
    pub nbf: Option<NumericDate>,
}

impl TimeClaims {
    /// The claims as three words, for a store that keeps plain integers (shared memory):
    /// a tag word (2 bits per claim: absent, `Int`, `UInt`, `Float`) and the two values' bits.
    pub fn to_words(&self) -> [u64; 3] {
        fn one(d: Option<NumericDate>) -> (u64, u64) {
            match d {
                None => (0, 0),
                Some(NumericDate::Int(i)) => (1, i as u64),
                Some(NumericDate::UInt(u)) => (2, u),
                Some(NumericDate::Float(f)) => (3, f.to_bits()),
            }
        }
        let (te, e) = one(self.exp);
        let (tn, n) = one(self.nbf);
        [te | (tn << 2), e, n]
    }

    /// The inverse of [`TimeClaims::to_words`]; `None` for words it cannot have produced.
    #[inline]
    pub fn from_words(w: [u64; 3]) -> Option<TimeClaims> {
        fn one(tag: u64, bits: u64) -> Option<Option<NumericDate>> {
            match tag {
                0 => Some(None),
                1 => Some(Some(NumericDate::Int(bits as i64))),
                2 => Some(Some(NumericDate::UInt(bits))),
                _ => {
                    let f = f64::from_bits(bits);
                    f.is_finite().then_some(Some(NumericDate::Float(f)))
                }
            }
        }
        let [tags, e, n] = w;
        if tags > 0b1111 {
            return None;
        }
        Some(TimeClaims {
            exp: one(tags & 3, e)?,
            nbf: one(tags >> 2, n)?,
        })
    }

    /// The claims of a token whose `exp` and `nbf` passed [`check_times`] (`None` if one of them
    /// is not a number, which that check refuses).
    pub(crate) fn of(exp: Option<&Value>, nbf: Option<&Value>) -> Option<TimeClaims> {
        let date = |v: Option<&Value>| match v {
            None => Some(None),
            Some(v) => NumericDate::of(v).map(Some),
        };
        Some(TimeClaims {
            exp: date(exp)?,
            nbf: date(nbf)?,
        })
    }

    /// [`check_times`] for claims already known to be numbers.
    pub(crate) fn check(&self, v: &Validation) -> Result<(), Rejection> {
        let leeway = v.leeway.max(0);
        if self.exp.is_some_and(|d| d.expired(v.now, leeway)) {
            return Err(expired());
        }
        if self.nbf.is_some_and(|d| d.early(v.now, leeway)) {
            return Err(early());
        }
        Ok(())
    }
}

fn expired() -> Rejection {
    Rejection::new(Status::Expired, "token has expired")
}

fn early() -> Rejection {
    Rejection::new(Status::NotYetValid, "token is not yet valid (nbf)")
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
    let leeway = v.leeway.max(0);
    if let Some(exp) = exp {
        let Some(exp) = NumericDate::of(exp) else {
            return Err(Rejection::new(Status::BadClaim, "exp is not a number"));
        };
        if exp.expired(v.now, leeway) {
            return Err(expired());
        }
    }
    if let Some(nbf) = nbf {
        let Some(nbf) = NumericDate::of(nbf) else {
            return Err(Rejection::new(Status::BadClaim, "nbf is not a number"));
        };
        if nbf.early(v.now, leeway) {
            return Err(early());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn words_round_trip_and_check_as_values() {
        let values = [
            None,
            Some(json!(0)),
            Some(json!(-5)),
            Some(json!(1_700_000_000)),
            Some(json!(i64::MIN)),
            Some(json!(i64::MAX)),
            Some(json!(u64::MAX)),
            Some(json!(1.5)),
            Some(json!(-1e300)),
            Some(json!(1e300)),
        ];
        let checks = [
            (0, 0),
            (1_700_000_000, 0),
            (1_700_000_000, 100),
            (i64::MAX, i64::MAX),
            (i64::MIN, 0),
            (-6, 1),
        ];
        for exp in &values {
            for nbf in &values {
                let t = TimeClaims::of(exp.as_ref(), nbf.as_ref()).unwrap();
                assert_eq!(TimeClaims::from_words(t.to_words()), Some(t));
                for (now, leeway) in checks {
                    let v = Validation { now, leeway };
                    assert_eq!(
                        t.check(&v),
                        check_times(exp.as_ref(), nbf.as_ref(), &v),
                        "{exp:?} {nbf:?} {now} {leeway}"
                    );
                }
            }
        }
        assert_eq!(TimeClaims::of(Some(&json!("1")), None), None);
        assert_eq!(TimeClaims::from_words([16, 0, 0]), None);
        assert_eq!(TimeClaims::from_words([3, f64::NAN.to_bits(), 0]), None);
    }
}
