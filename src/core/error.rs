//! Errors the core reports. The first variants are meant for the person who caused them and are
//! shown as they are; `Store` is internal and is logged, never shown.

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Longest text a customer or agent may send in one message.
pub const MAX_TEXT_CHARS: usize = 4000;

/// Rejects empty or over-long message text with a message that says which.
pub fn check_text(text: &str) -> Result<()> {
    if text.trim().is_empty() {
        return Err(CoreError::Invalid("text is empty".into()));
    }
    // PostgreSQL refuses NUL in text, and no platform shows it.
    if text.contains('\0') {
        return Err(CoreError::Invalid("text contains a NUL character".into()));
    }
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(CoreError::Invalid(format!(
            "text is {chars} characters long; the limit is {MAX_TEXT_CHARS}"
        )));
    }
    Ok(())
}
