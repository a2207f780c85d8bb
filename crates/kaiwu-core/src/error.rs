/// Coarse classes of failure shared by all crates. Each library error exposes its kind so the edge
/// (HTTP, MQTT, CLI) can answer consistently without knowing every error type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Syntactically bad input (malformed JSON, bad query parameter).
    BadRequest,
    /// Well-formed input that fails validation.
    Invalid,
    /// The object does not exist, or is not visible to the caller.
    NotFound,
    /// The request conflicts with existing state (duplicate id, object in use).
    Conflict,
    /// The caller is not authenticated.
    Unauthorized,
    /// The caller is authenticated but lacks the permission.
    Forbidden,
    /// The input is larger than allowed.
    TooLarge,
    /// A failure on our side (storage, I/O).
    Internal,
}
