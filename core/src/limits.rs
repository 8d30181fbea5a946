//! Size limits on untrusted input.

/// Tokens longer than this many bytes are refused with [`Status::TooLarge`](crate::Status::TooLarge).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// A token is checked against at most this many candidate keys (signature checks, or JWE
/// key unwraps): the work one token can cause is bounded whatever the key set holds. A token
/// that none of the first keys verifies while more candidates remain is refused with
/// [`Status::TooManyKeys`](crate::Status::TooManyKeys).
pub const MAX_KEY_TRIES: usize = 16;

/// Header or payload JSON nested deeper than this many arrays/objects
/// (the top-level object counts as 1) is refused with [`Status::Malformed`](crate::Status::Malformed).
pub const MAX_JSON_DEPTH: usize = 32;
