//! Signed identity: a site that knows its logged-in customer passes `user_id` and `user_hash`,
//! the hex HMAC-SHA256 of `user_id` keyed with `[web] identity_secret`, so a visitor cannot
//! claim to be someone else by changing `user_id`.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Why an identity was refused; each maps to its own status.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("user_hash does not match user_id")]
    WrongHash,
    #[error("user_id needs user_hash, the HMAC-SHA256 of user_id signed by the site")]
    MissingHash,
    #[error("user_hash was given without user_id")]
    MissingUserId,
    #[error("signed identity is not set up on this server (FRONTLINE_IDENTITY_SECRET)")]
    NotConfigured,
    #[error("{0}")]
    Invalid(&'static str),
}

/// The hex HMAC-SHA256 of `user_id` keyed with `secret`: what a site sends as `user_hash`.
pub fn user_hash(secret: &str, user_id: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(user_id.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a claimed identity; `Ok(None)` for an anonymous visitor, `Ok(Some(user_id))` for a
/// verified one. The hash is compared in constant time (`verify_slice`).
pub fn verify(
    secret: Option<&str>,
    user_id: Option<&str>,
    hash: Option<&str>,
) -> Result<Option<String>, IdentityError> {
    let user_id = user_id.filter(|u| !u.is_empty());
    let hash = hash.filter(|h| !h.is_empty());
    let (user_id, hash) = match (user_id, hash) {
        (None, None) => return Ok(None),
        (None, Some(_)) => return Err(IdentityError::MissingUserId),
        (Some(_), None) if secret.is_some() => return Err(IdentityError::MissingHash),
        (Some(_), _) if secret.is_none() => return Err(IdentityError::NotConfigured),
        (Some(u), Some(h)) => (u, h),
        (Some(_), None) => unreachable!("covered above"),
    };
    if user_id.chars().count() > 200 {
        return Err(IdentityError::Invalid(
            "user_id is longer than 200 characters",
        ));
    }
    if user_id.chars().any(char::is_control) {
        return Err(IdentityError::Invalid(
            "user_id contains control characters",
        ));
    }
    let secret = secret.expect("checked above");
    let claimed = hex::decode(hash.trim()).map_err(|_| IdentityError::WrongHash)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(user_id.as_bytes());
    mac.verify_slice(&claimed)
        .map_err(|_| IdentityError::WrongHash)?;
    Ok(Some(user_id.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_matches_a_known_hmac() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            user_hash("Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn valid_wrong_and_missing_hashes() {
        let secret = Some("s3cret");
        let good = user_hash("s3cret", "42");
        assert_eq!(
            verify(secret, Some("42"), Some(&good)),
            Ok(Some("42".into()))
        );
        assert_eq!(
            verify(secret, Some("42"), Some(&good.to_uppercase())),
            Ok(Some("42".into()))
        );
        assert_eq!(
            verify(secret, Some("43"), Some(&good)),
            Err(IdentityError::WrongHash)
        );
        assert_eq!(
            verify(secret, Some("42"), Some("zz")),
            Err(IdentityError::WrongHash)
        );
        assert_eq!(
            verify(secret, Some("42"), None),
            Err(IdentityError::MissingHash)
        );
        assert_eq!(
            verify(secret, None, Some(&good)),
            Err(IdentityError::MissingUserId)
        );
        assert_eq!(verify(secret, None, None), Ok(None));
        assert_eq!(
            verify(None, Some("42"), Some(&good)),
            Err(IdentityError::NotConfigured)
        );
    }
}
