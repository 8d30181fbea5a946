//! WebSocket (RFC 6455) handshake helpers and framing, for both ends.

use std::io::{self, Read, Write};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

/// The GUID appended to `Sec-WebSocket-Key` (RFC 6455 section 1.3).
pub const GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Continuation frame.
pub const OP_CONTINUATION: u8 = 0x0;
/// Text frame.
pub const OP_TEXT: u8 = 0x1;
/// Binary frame.
pub const OP_BINARY: u8 = 0x2;
/// Close frame.
pub const OP_CLOSE: u8 = 0x8;
/// Ping frame.
pub const OP_PING: u8 = 0x9;
/// Pong frame.
pub const OP_PONG: u8 = 0xA;

/// Close status: normal closure.
pub const CLOSE_NORMAL: u16 = 1000;
/// Close status: protocol error.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close status: message too big.
pub const CLOSE_TOO_BIG: u16 = 1009;

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
pub fn accept_key(key: &str) -> String {
    let digest = openssl::sha::sha1(format!("{}{GUID}", key.trim()).as_bytes());
    STANDARD.encode(digest)
}

/// A fresh random `Sec-WebSocket-Key` (16 random bytes, base64).
pub fn client_key() -> io::Result<String> {
    let mut b = [0u8; 16];
    openssl::rand::rand_bytes(&mut b).map_err(io::Error::other)?;
    Ok(STANDARD.encode(b))
}

/// A fresh random masking key.
pub fn random_mask() -> io::Result<[u8; 4]> {
    let mut b = [0u8; 4];
    openssl::rand::rand_bytes(&mut b).map_err(io::Error::other)?;
    Ok(b)
}

/// One frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// FIN bit.
    pub fin: bool,
    /// The opcode (`OP_*`).
    pub opcode: u8,
    /// Whether the frame was masked on the wire.
    pub masked: bool,
    /// The payload, unmasked.
    pub payload: Vec<u8>,
}

impl Frame {
    /// The payload as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.payload).into_owned()
    }

    /// The status code of a close frame, if it has one.
    pub fn close_code(&self) -> Option<u16> {
        match self.payload.as_slice() {
            [a, b, ..] => Some(u16::from_be_bytes([*a, *b])),
            _ => None,
        }
    }
}

/// Why [`read_frame`] refused a frame.
#[derive(Debug)]
pub enum FrameError {
    /// Reading failed (including end of input).
    Io(io::Error),
    /// The frame breaks RFC 6455; answer with a close frame carrying this code.
    Protocol(u16, &'static str),
}

impl From<io::Error> for FrameError {
    fn from(e: io::Error) -> Self {
        FrameError::Io(e)
    }
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::Io(e) => write!(f, "{e}"),
            FrameError::Protocol(code, why) => write!(f, "{why} (close {code})"),
        }
    }
}

/// Reads one frame and unmasks it. Payloads longer than `max_len` are refused with 1009,
/// and bad control frames, reserved bits and reserved opcodes with 1002.
pub fn read_frame<R: Read>(r: &mut R, max_len: u64) -> Result<Frame, FrameError> {
    let mut h = [0u8; 2];
    r.read_exact(&mut h)?;
    let [b0, b1] = h;
    let fin = b0 & 0x80 != 0;
    if b0 & 0x70 != 0 {
        return Err(FrameError::Protocol(
            CLOSE_PROTOCOL_ERROR,
            "reserved bits set",
        ));
    }
    let opcode = b0 & 0x0F;
    if !matches!(
        opcode,
        OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG
    ) {
        return Err(FrameError::Protocol(
            CLOSE_PROTOCOL_ERROR,
            "reserved opcode",
        ));
    }
    let masked = b1 & 0x80 != 0;
    let len = match b1 & 0x7F {
        126 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b)?;
            u64::from(u16::from_be_bytes(b))
        }
        127 => {
            let mut b = [0u8; 8];
            r.read_exact(&mut b)?;
            let l = u64::from_be_bytes(b);
            if l >> 63 != 0 {
                return Err(FrameError::Protocol(
                    CLOSE_PROTOCOL_ERROR,
                    "64-bit length with the top bit set",
                ));
            }
            l
        }
        l => u64::from(l),
    };
    if opcode >= OP_CLOSE && (len > 125 || !fin) {
        return Err(FrameError::Protocol(
            CLOSE_PROTOCOL_ERROR,
            "fragmented or long control frame",
        ));
    }
    if len > max_len {
        return Err(FrameError::Protocol(CLOSE_TOO_BIG, "frame too large"));
    }
    let mut mask = [0u8; 4];
    if masked {
        r.read_exact(&mut mask)?;
    }
    let mut payload = Vec::new();
    r.take(len).read_to_end(&mut payload)?;
    if (payload.len() as u64) < len {
        return Err(FrameError::Io(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "connection closed inside a frame",
        )));
    }
    if masked {
        apply_mask(&mut payload, mask);
    }
    Ok(Frame {
        fin,
        opcode,
        masked,
        payload,
    })
}

/// XORs `data` with the masking key (masking and unmasking are the same operation).
pub fn apply_mask(data: &mut [u8], mask: [u8; 4]) {
    for (b, m) in data.iter_mut().zip(mask.iter().cycle()) {
        *b ^= m;
    }
}

/// Encodes one frame; `mask` is `Some` for client-to-server frames.
pub fn encode_frame(fin: bool, opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len().saturating_add(14));
    let fin_bit: u8 = if fin { 0x80 } else { 0 };
    out.push(fin_bit | (opcode & 0x0F));
    let mask_bit = if mask.is_some() { 0x80 } else { 0 };
    let len = payload.len();
    if len < 126 {
        out.push(mask_bit | len as u8);
    } else if let Ok(l) = u16::try_from(len) {
        out.push(mask_bit | 126);
        out.extend_from_slice(&l.to_be_bytes());
    } else {
        out.push(mask_bit | 127);
        out.extend_from_slice(&(len as u64).to_be_bytes());
    }
    match mask {
        Some(m) => {
            out.extend_from_slice(&m);
            let start = out.len();
            out.extend_from_slice(payload);
            if let Some(p) = out.get_mut(start..) {
                apply_mask(p, m);
            }
        }
        None => out.extend_from_slice(payload),
    }
    out
}

/// Writes one frame and flushes.
pub fn write_frame<W: Write>(
    w: &mut W,
    fin: bool,
    opcode: u8,
    payload: &[u8],
    mask: Option<[u8; 4]>,
) -> io::Result<()> {
    w.write_all(&encode_frame(fin, opcode, payload, mask))?;
    w.flush()
}

/// The payload of a close frame with `code` and `reason`.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    p.extend_from_slice(reason.as_bytes());
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key("dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn frames_round_trip_at_every_length_form() {
        for len in [0usize, 5, 125, 126, 300, 65535, 65536, 70000] {
            let payload: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            for mask in [None, Some([1, 2, 3, 4])] {
                let wire = encode_frame(true, OP_BINARY, &payload, mask);
                let f = read_frame(&mut Cursor::new(wire), 1 << 20).unwrap();
                assert_eq!(f.payload, payload);
                assert_eq!(f.masked, mask.is_some());
                assert!(f.fin);
            }
        }
    }

    #[test]
    fn rfc_6455_masked_hello() {
        let wire = [
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ];
        let f = read_frame(&mut Cursor::new(wire), 100).unwrap();
        assert_eq!((f.opcode, f.text().as_str()), (OP_TEXT, "Hello"));
        assert_eq!(
            encode_frame(true, OP_TEXT, b"Hello", Some([0x37, 0xfa, 0x21, 0x3d])),
            wire
        );
    }

    #[test]
    fn refuses_bad_frames() {
        let cases: [&[u8]; 5] = [
            &[0xC1, 0x00],                            // RSV1
            &[0x83, 0x00],                            // reserved opcode
            &[0x09, 0x00],                            // fragmented ping
            &[0x89, 0x7E, 0x00, 0x7E],                // 126-byte ping
            &[0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0], // top bit
        ];
        for c in cases {
            assert!(matches!(
                read_frame(&mut Cursor::new(c), 1 << 20),
                Err(FrameError::Protocol(..))
            ));
        }
        let big = encode_frame(true, OP_TEXT, &[0; 200], None);
        assert!(matches!(
            read_frame(&mut Cursor::new(big), 100),
            Err(FrameError::Protocol(CLOSE_TOO_BIG, _))
        ));
        assert!(matches!(
            read_frame(&mut Cursor::new([0x81, 0x05, b'a']), 100),
            Err(FrameError::Io(_))
        ));
    }
}
