//! Strict base64url decoding for the per-request path (RFC 4648 §5, RFC 7515 §2).
//!
//! The rules are those of `base64`'s `URL_SAFE_NO_PAD` engine, which the rest of the crate
//! uses and which the tests compare this decoder with on every short input and on random
//! ones: the URL-safe alphabet only, no padding, no whitespace, a length that is not 1 more
//! than a multiple of 4, and the unused bits of the last character zero (one encoding per
//! byte string). It exists because a token is mostly its signature: a table that yields each
//! character's six bits already in place decodes four characters with four loads, three ORs
//! and one check, about half the instructions of the general-purpose engine, and the output
//! goes where the caller wants it (a signature on the stack, no allocation).

/// A value no character has: bit 31, above the 24 bits four characters make.
const BAD: u32 = 1 << 31;

/// The six bits of each base64url character, shifted left by `shift`; [`BAD`] for any other
/// byte. Evaluated at compile time (an index out of bounds would fail the build).
#[allow(clippy::indexing_slicing, clippy::arithmetic_side_effects)]
const fn table(shift: u32) -> [u32; 256] {
    let mut t = [BAD; 256];
    let mut i = 0;
    while i < 64 {
        let c = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[i];
        t[c as usize] = (i as u32) << shift;
        i += 1;
    }
    t
}

static T0: [u32; 256] = table(18);
static T1: [u32; 256] = table(12);
static T2: [u32; 256] = table(6);
static T3: [u32; 256] = table(0);

#[inline(always)]
fn at(t: &[u32; 256], c: u8) -> u32 {
    // Always in bounds (a byte indexes 256 entries): the check compiles away.
    t.get(usize::from(c)).copied().unwrap_or(BAD)
}

/// The decoded length of `len` characters; `None` for a length no unpadded encoding has.
pub(crate) fn decoded_len(len: usize) -> Option<usize> {
    let full = (len / 4).checked_mul(3)?;
    match len % 4 {
        0 => Some(full),
        2 => full.checked_add(1),
        3 => full.checked_add(2),
        _ => None,
    }
}

/// Decodes `input` into `out`, which must be exactly [`decoded_len`] bytes long. `None` if
/// `input` is not strict unpadded base64url.
pub(crate) fn decode_into(input: &[u8], out: &mut [u8]) -> Option<()> {
    if decoded_len(input.len()) != Some(out.len()) {
        return None;
    }
    let mut bad = 0u32;
    // Eight characters at a time (two groups of 24 bits, stored as six bytes), then the last
    // group of four, then the 2 or 3 characters of a partial group.
    let octets = input.chunks_exact(8);
    let input = octets.remainder();
    let mut sixes = out.chunks_exact_mut(6);
    for (q, o) in octets.zip(sixes.by_ref()) {
        if let [a, b, c, d, e, f, g, h] = q {
            let w1 = at(&T0, *a) | at(&T1, *b) | at(&T2, *c) | at(&T3, *d);
            let w2 = at(&T0, *e) | at(&T1, *f) | at(&T2, *g) | at(&T3, *h);
            bad |= w1 | w2;
            let v = (u64::from(w1) << 24 | u64::from(w2)).to_be_bytes();
            o.copy_from_slice(&v[2..]);
        }
    }
    let out = sixes.into_remainder();
    let quads = input.chunks_exact(4);
    let rest = quads.remainder();
    let mut outs = out.chunks_exact_mut(3);
    for (q, o) in quads.zip(outs.by_ref()) {
        if let ([a, b, c, d], [x, y, z]) = (q, o) {
            let w = at(&T0, *a) | at(&T1, *b) | at(&T2, *c) | at(&T3, *d);
            bad |= w;
            *x = (w >> 16) as u8;
            *y = (w >> 8) as u8;
            *z = w as u8;
        }
    }
    let tail = outs.into_remainder();
    match (rest, tail) {
        ([], []) => {}
        ([a, b], [x]) => {
            let w = at(&T0, *a) | at(&T1, *b);
            // The last character's low four bits are not part of the byte: they must be 0.
            if w & 0xffff != 0 {
                return None;
            }
            bad |= w;
            *x = (w >> 16) as u8;
        }
        ([a, b, c], [x, y]) => {
            let w = at(&T0, *a) | at(&T1, *b) | at(&T2, *c);
            // The last character's low two bits must be 0.
            if w & 0xff != 0 {
                return None;
            }
            bad |= w;
            *x = (w >> 16) as u8;
            *y = (w >> 8) as u8;
        }
        _ => return None,
    }
    (bad & BAD == 0).then_some(())
}

/// Decodes `input` into a new vector of exactly the decoded length.
pub(crate) fn decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = vec![0; decoded_len(input.len())?];
    decode_into(input, &mut out)?;
    Some(out)
}

/// Where a signature is decoded: on the caller's stack when it fits (every signature of a
/// key up to 4096 bits), so it is neither allocated nor moved.
pub(crate) struct Scratch {
    inline: [u8; Scratch::INLINE],
    heap: Vec<u8>,
}

impl Default for Scratch {
    fn default() -> Self {
        Scratch {
            inline: [0; Scratch::INLINE],
            heap: Vec::new(),
        }
    }
}

impl Scratch {
    const INLINE: usize = 512;

    /// Decodes `input` into this scratch space (see [`decode_into`]).
    pub(crate) fn decode(&mut self, input: &[u8]) -> Option<&[u8]> {
        let len = decoded_len(input.len())?;
        if len <= Self::INLINE {
            let out = self.inline.get_mut(..len)?;
            decode_into(input, out)?;
            Some(out)
        } else {
            self.heap = decode(input)?;
            Some(&self.heap)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;

    fn reference(input: &[u8]) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(input).ok()
    }

    /// Every input of up to 3 characters over an alphabet that covers each class of byte
    /// (valid characters with various low bits, padding, whitespace, the standard alphabet's
    /// `+` and `/`, high bytes), and every 4- and 5-character input over a smaller one.
    #[test]
    fn agrees_with_the_base64_crate_exhaustively() {
        let wide: Vec<u8> = b"AQBCDEFGPgw_-wxyz019+/=. \n\0\xff\x80a".to_vec();
        let mut inputs: Vec<Vec<u8>> = vec![vec![]];
        for len in 1..=3 {
            let mut next = Vec::new();
            for p in inputs.iter().filter(|p| p.len() == len - 1) {
                for &c in &wide {
                    let mut q = p.clone();
                    q.push(c);
                    next.push(q);
                }
            }
            inputs.extend(next);
        }
        let narrow = b"AQBw_-=+ ";
        let mut longer: Vec<Vec<u8>> = vec![vec![]];
        for _ in 0..5 {
            longer = longer
                .iter()
                .flat_map(|p| {
                    narrow.iter().map(move |&c| {
                        let mut q = p.clone();
                        q.push(c);
                        q
                    })
                })
                .collect();
            inputs.extend(longer.iter().cloned());
        }
        for input in &inputs {
            assert_eq!(decode(input), reference(input), "input {input:?}");
        }
    }

    #[test]
    fn agrees_with_the_base64_crate_on_random_input() {
        // A small deterministic generator: no extra dependency.
        let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        };
        for _ in 0..20_000 {
            let len = (next() % 700) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            let mut enc = URL_SAFE_NO_PAD.encode(&bytes).into_bytes();
            assert_eq!(decode(&enc), Some(bytes.clone()));
            assert_eq!(Scratch::default().decode(&enc), Some(&bytes[..]));
            if !enc.is_empty() {
                // One corrupted character: both decoders agree on the outcome.
                let i = (next() as usize) % enc.len();
                enc[i] = next() as u8;
                assert_eq!(decode(&enc), reference(&enc));
                assert_eq!(
                    Scratch::default().decode(&enc).map(<[u8]>::to_vec),
                    reference(&enc)
                );
            }
        }
    }

    #[test]
    fn signatures_of_large_keys_go_to_the_heap() {
        let mut s = Scratch::default();
        let bytes = vec![7u8; 1024];
        let enc = URL_SAFE_NO_PAD.encode(&bytes);
        assert_eq!(s.decode(enc.as_bytes()), Some(&bytes[..]));
        assert_eq!(s.heap, bytes);
        let mut s = Scratch::default();
        let enc = URL_SAFE_NO_PAD.encode([7u8; 512]);
        assert_eq!(s.decode(enc.as_bytes()), Some(&[7u8; 512][..]));
        assert!(s.heap.is_empty());
    }
}
