//! Validated values: once constructed, a value is known to satisfy its rule.

use std::fmt;

/// The largest token count the API accepts: 2^53 − 1, JavaScript's `Number.MAX_SAFE_INTEGER`
/// (every JSON client represents it and its successor exactly, so "one more" is never read as it).
pub const MAX_TOKENS: u64 = (1 << 53) - 1;

/// Why a value was rejected, naming the field as the client spelled it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{field}` {reason}")]
pub struct ValidationError {
    pub field: &'static str,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: &'static str, reason: impl Into<String>) -> Self {
        Self { field, reason: reason.into() }
    }
}

/// A user identifier: 1 to 128 characters from `A–Z a–z 0–9 . _ - @`, neither `.` nor `..`
/// (clients that normalise paths would turn `/users/..` into `/`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(String);

impl UserId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        if raw.is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(ValidationError::new(
                field,
                format!("must be at most {} characters long (got {})", Self::MAX_LEN, raw.len()),
            ));
        }
        if let Some(bad) = raw.chars().find(|c| !Self::allowed(*c)) {
            return Err(ValidationError::new(
                field,
                format!("may only contain letters, digits, '.', '_', '-' and '@' (found {bad:?})"),
            ));
        }
        if raw == "." || raw == ".." {
            return Err(ValidationError::new(field, format!("must not be `{raw}` (a path segment clients rewrite)")));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The pattern [`UserId::parse`] accepts, for the OpenAPI document.
    /// (No look-ahead: not every client's regex engine has one.)
    pub const PATTERN: &'static str =
        r"^([A-Za-z0-9_@-][A-Za-z0-9._@-]{0,127}|\.[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,126}|\.\.[A-Za-z0-9._@-]{1,126})$";

    fn allowed(c: char) -> bool {
        c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@')
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A label for an API key, shown in listings: 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLabel(String);

impl KeyLabel {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let chars = raw.chars().count();
        if raw.trim().is_empty() {
            return Err(ValidationError::new(field, "must not be empty"));
        }
        if chars > Self::MAX_CHARS {
            return Err(ValidationError::new(
                field,
                format!("must be at most {} characters (got {chars})", Self::MAX_CHARS),
            ));
        }
        if raw.chars().any(char::is_control) {
            return Err(ValidationError::new(field, "must not contain control characters"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A tier's name: 1 to 32 lowercase letters, digits, `-` or `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TierName(String);

impl TierName {
    pub const PATTERN: &'static str = "^[a-z0-9_-]{1,32}$";

    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ValidationError> {
        let ok = (1..=32).contains(&raw.len())
            && raw.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if !ok {
            return Err(ValidationError::new(
                field,
                format!("must be 1 to 32 lowercase letters, digits, '-' or '_' (got {raw:?})"),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TierName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A token limit: a positive integer no larger than [`MAX_TOKENS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenLimit(u64);

impl TokenLimit {
    pub fn new(field: &'static str, value: u64) -> Result<Self, ValidationError> {
        match value {
            0 => Err(ValidationError::new(field, "must be a positive integer (got 0)")),
            v if v > MAX_TOKENS => Err(ValidationError::new(field, format!("must be at most {MAX_TOKENS} (got {v})"))),
            v => Ok(Self(v)),
        }
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

/// A number of tokens consumed in one record: zero up to [`MAX_TOKENS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct TokenCount(u64);

impl TokenCount {
    pub fn new(field: &'static str, value: u64) -> Result<Self, ValidationError> {
        if value > MAX_TOKENS {
            return Err(ValidationError::new(field, format!("must be at most {MAX_TOKENS} (got {value})")));
        }
        Ok(Self(value))
    }

    pub fn get(self) -> u64 {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn limits_accept_exactly_the_positive_safe_integers(v in any::<u64>()) {
            let ok = TokenLimit::new("tokenLimit", v).is_ok();
            prop_assert_eq!(ok, (1..=MAX_TOKENS).contains(&v));
        }

        #[test]
        fn limit_errors_name_the_field(v in prop_oneof![Just(0u64), (MAX_TOKENS + 1)..]) {
            let err = TokenLimit::new("newLimit", v).unwrap_err();
            prop_assert_eq!(err.field, "newLimit");
            prop_assert!(err.reason.contains(&v.to_string()));
        }

        #[test]
        fn token_counts_accept_zero_to_max(v in any::<u64>()) {
            prop_assert_eq!(TokenCount::new("tokensConsumed", v).is_ok(), v <= MAX_TOKENS);
        }

        #[test]
        fn user_ids_from_the_allowed_alphabet_are_accepted(id in "[A-Za-z0-9._@-]{1,128}") {
            prop_assume!(id != "." && id != "..");
            let parsed = UserId::parse("userId", &id).unwrap();
            prop_assert_eq!(parsed.as_str(), id.as_str());
        }

        #[test]
        fn user_ids_with_any_other_character_are_rejected(
            prefix in "[a-z]{0,5}",
            bad in "[^A-Za-z0-9._@-]",
            suffix in "[a-z]{0,5}",
        ) {
            let id = format!("{prefix}{bad}{suffix}");
            let err = UserId::parse("userId", &id).unwrap_err();
            prop_assert_eq!(err.field, "userId");
        }
    }

    #[test]
    fn user_id_length_bounds() {
        assert!(UserId::parse("userId", "").is_err());
        assert!(UserId::parse("userId", &"a".repeat(128)).is_ok());
        let err = UserId::parse("userId", &"a".repeat(129)).unwrap_err();
        assert_eq!(err.reason, "must be at most 128 characters long (got 129)");
        for dots in [".", ".."] {
            assert!(UserId::parse("userId", dots).is_err(), "{dots}");
        }
        assert!(UserId::parse("userId", "...").is_ok());
        assert!(UserId::parse("userId", ".a").is_ok());
    }

    #[test]
    fn key_labels_are_limited_in_characters_not_bytes() {
        assert!(KeyLabel::parse("label", &"é".repeat(100)).is_ok());
        assert!(KeyLabel::parse("label", &"é".repeat(101)).unwrap_err().reason.contains("at most 100 characters"));
        assert!(KeyLabel::parse("label", "a\u{7}b").is_err());
        assert!(KeyLabel::parse("label", "  ").is_err());
    }

    #[test]
    fn tier_names_are_lowercase_words() {
        assert!(TierName::parse("tier", "pro").is_ok());
        assert!(TierName::parse("tier", "team-2_b").is_ok());
        for bad in ["", "Pro", "a b", &"a".repeat(33)] {
            assert!(TierName::parse("tier", bad).is_err(), "{bad}");
        }
    }
}
