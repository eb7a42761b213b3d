//! Checks shared by the text newtypes.

use crate::error::{DomainError, DomainResult};

/// Checks that `raw` holds no control characters (which would break logs and terminals of the
/// people reading them, and which the OpenAPI document forbids), trims it, and checks its
/// length in characters.
pub(crate) fn bounded(
    field: &str,
    raw: &str,
    min_chars: usize,
    max_chars: usize,
) -> DomainResult<String> {
    if raw.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            field,
            "format",
            format!("{field} must not contain control characters"),
        ));
    }
    let value = raw.trim();
    let chars = value.chars().count();
    if !(min_chars..=max_chars).contains(&chars) {
        let message = if min_chars == 0 {
            format!("{field} must be at most {max_chars} characters")
        } else {
            format!("{field} must be between {min_chars} and {max_chars} characters")
        };
        return Err(DomainError::invalid(field, "length", message));
    }
    Ok(value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_characters_after_trimming() {
        assert_eq!(bounded("name", "  é  ", 1, 1).ok().as_deref(), Some("é"));
        assert!(bounded("name", "   ", 1, 10).is_err());
        assert!(bounded("name", "abc", 1, 2).is_err());
        assert!(bounded("name", "a\u{0007}b", 1, 10).is_err());
        // Control characters count even where trimming would remove them.
        assert!(bounded("name", "name\n", 1, 10).is_err());
        assert!(bounded("name", "\tname", 1, 10).is_err());
    }
}
