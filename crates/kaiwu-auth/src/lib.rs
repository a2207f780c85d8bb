//! Authentication primitives: password hashing (argon2id), bearer tokens (HS256 JWT signed with a
//! per-install key), random secrets for device tokens and API keys, and the role permission
//! matrix that the HTTP layer enforces on every route.

mod device_ca;
mod error;
mod jwt;
mod password;
mod perm;
mod secret;

pub use device_ca::{DeviceCa, Issued, MAX_CSR_BYTES, fingerprint as cert_fingerprint};
pub use error::{Error, Result};
pub use jwt::{Claims, JwtKey};
pub use password::{hash_password, validate_password, verify_password};
pub use perm::{Action, allowed, can_grant, covers};
pub use secret::{API_KEY_PREFIX, random_token};
