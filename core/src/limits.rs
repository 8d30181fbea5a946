//! Size limits on untrusted input.

/// Tokens longer than this many bytes are refused with [`Status::TooLarge`](crate::Status::TooLarge).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

/// Header or payload JSON nested deeper than this many arrays/objects
/// (the top-level object counts as 1) is refused with [`Status::Malformed`](crate::Status::Malformed).
pub const MAX_JSON_DEPTH: usize = 32;
