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

/// The one of `all` that `name` calls `raw`, or a validation error on `field` listing the
/// names: for the fixed vocabularies (types, providers, statuses).
pub(crate) fn one_of<T: Copy>(
    field: &str,
    raw: &str,
    all: &[T],
    name: impl Fn(T) -> &'static str,
) -> DomainResult<T> {
    all.iter()
        .copied()
        .find(|t| name(*t) == raw)
        .ok_or_else(|| {
            let names: Vec<&str> = all.iter().map(|t| name(*t)).collect();
            DomainError::invalid(
                field,
                "enum",
                format!("{field} must be one of {}", names.join(", ")),
            )
        })
}

/// Checks that `raw` is a JSON object of at most `max_bytes` of compact JSON, given as `field`.
pub(crate) fn bounded_object(
    field: &str,
    raw: serde_json::Value,
    max_bytes: usize,
) -> DomainResult<serde_json::Map<String, serde_json::Value>> {
    let serde_json::Value::Object(map) = raw else {
        return Err(DomainError::invalid(
            field,
            "type",
            format!("{field} must be a JSON object"),
        ));
    };
    if serde_json::Value::Object(map.clone()).to_string().len() > max_bytes {
        return Err(DomainError::invalid(
            field,
            "size",
            format!("{field} must be at most {max_bytes} bytes of JSON"),
        ));
    }
    Ok(map)
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
