//! Constrained strings as named schemas of the spec (`UserId`, `TierName`, `PromptText`, …):
//! the document states each constraint once, and the generated client names the type once (it
//! keeps them plain `String`s, so no regex engine ends up in the web app). The text is taken
//! as sent and validated by the domain, which names the field and the reason.

use std::borrow::Cow;

use poem_openapi::{
    registry::{MetaSchema, MetaSchemaRef, Registry},
    types::{ParseError, ParseFromJSON, ParseFromParameter, ParseResult, ToJSON, Type},
};
use serde_json::Value;

/// The constraints of one named string schema.
struct Constraints {
    name: &'static str,
    description: &'static str,
    pattern: Option<&'static str>,
    min_length: Option<usize>,
    max_length: Option<usize>,
}

macro_rules! named_string {
    ($(#[$doc:meta])* $ty:ident = $constraints:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub(crate) struct $ty(pub(crate) String);

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                super::body::string(deserializer).map(Self)
            }
        }

        impl $ty {
            const CONSTRAINTS: Constraints = $constraints;
        }

        impl std::ops::Deref for $ty {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl Type for $ty {
            const IS_REQUIRED: bool = true;
            type RawValueType = Self;
            type RawElementValueType = Self;

            fn name() -> Cow<'static, str> {
                Cow::Borrowed(Self::CONSTRAINTS.name)
            }

            fn schema_ref() -> MetaSchemaRef {
                MetaSchemaRef::Reference(Self::CONSTRAINTS.name.to_owned())
            }

            fn register(registry: &mut Registry) {
                registry.create_schema::<Self, _>(Self::CONSTRAINTS.name.to_owned(), |_| schema(&Self::CONSTRAINTS));
            }

            fn as_raw_value(&self) -> Option<&Self> {
                Some(self)
            }

            fn raw_element_iter<'a>(&'a self) -> Box<dyn Iterator<Item = &'a Self> + 'a> {
                Box::new(std::iter::once(self))
            }
        }

        impl ParseFromJSON for $ty {
            fn parse_from_json(value: Option<Value>) -> ParseResult<Self> {
                match value {
                    Some(Value::String(text)) => Ok(Self(text)),
                    _ => Err(ParseError::expected_type(value.unwrap_or_default())),
                }
            }
        }

        impl ParseFromParameter for $ty {
            fn parse_from_parameter(value: &str) -> ParseResult<Self> {
                Ok(Self(value.to_owned()))
            }
        }

        impl ToJSON for $ty {
            fn to_json(&self) -> Option<Value> {
                Some(Value::String(self.0.clone()))
            }
        }
    };
}

fn schema(c: &Constraints) -> MetaSchema {
    MetaSchema {
        description: Some(c.description),
        pattern: c.pattern.map(str::to_owned),
        min_length: c.min_length,
        max_length: c.max_length,
        ..MetaSchema::new("string")
    }
}

named_string!(
    /// A user's ID.
    UserIdText = Constraints {
        name: "UserId",
        description: "A user ID: 1–128 letters, digits, `.`, `_`, `-` or `@`; not `.` or `..`.",
        pattern: Some(crate::domain::UserId::PATTERN),
        min_length: Some(1),
        max_length: Some(128),
    }
);

named_string!(
    /// A user's ID in a path. (The same constraints as [`UserIdText`], under a name of its own:
    /// the generated client takes path parameters as `&str`.)
    UserIdPath = Constraints {
        name: "UserIdParam",
        description: "A user ID: 1–128 letters, digits, `.`, `_`, `-` or `@`; not `.` or `..`.",
        pattern: Some(crate::domain::UserId::PATTERN),
        min_length: Some(1),
        max_length: Some(128),
    }
);

named_string!(
    /// A tier's name in a path.
    TierNamePath = Constraints {
        name: "TierNameParam",
        description: "A tier's name: 1–32 lowercase letters, digits, `-` or `_`.",
        pattern: Some(crate::domain::TierName::PATTERN),
        min_length: Some(1),
        max_length: Some(32),
    }
);

named_string!(
    /// An event's ID, as a page cursor.
    EventIdParam = Constraints {
        name: "EventIdParam",
        description: "An event's ID (`eventId`, or a page's `nextBefore`): 21 lowercase hex digits.",
        pattern: Some("^[0-9a-f]{21}$"),
        min_length: Some(21),
        max_length: Some(21),
    }
);

named_string!(
    /// An alert rule's name in a path.
    AlertNamePath = Constraints {
        name: "AlertRuleName",
        description: "An alert rule's name: 1–64 lowercase letters, digits, `-` or `_`, starting with a letter or digit.",
        pattern: Some(crate::domain::AlertRule::NAME_PATTERN),
        min_length: Some(1),
        max_length: Some(64),
    }
);

named_string!(
    /// A tier's name.
    TierNameText = Constraints {
        name: "TierName",
        description: "A tier's name: 1–32 lowercase letters, digits, `-` or `_`.",
        pattern: Some(crate::domain::TierName::PATTERN),
        min_length: Some(1),
        max_length: Some(32),
    }
);

named_string!(
    /// What to ask the model.
    PromptText = Constraints {
        name: "PromptText",
        description: "A prompt: 1 to 200,000 characters, not only whitespace.",
        // "Not only whitespace" is added by `spec.rs` as `not` a blank pattern.
        pattern: None,
        min_length: Some(1),
        max_length: Some(200_000),
    }
);

named_string!(
    /// A system prompt or an earlier turn of a conversation.
    TurnText = Constraints {
        name: "TurnText",
        description: "Text of a conversation: at most 200,000 characters.",
        pattern: None,
        min_length: None,
        max_length: Some(200_000),
    }
);

named_string!(
    /// A label for an API key.
    KeyLabelText = Constraints {
        name: "KeyLabel",
        description: "A note for people about a key: 1–100 characters, no control characters.",
        // Something besides spaces, and no control characters.
        pattern: Some(
            "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$",
        ),
        min_length: Some(1),
        max_length: Some(100),
    }
);

named_string!(
    /// A model to call: a priced model ID, or an inference profile of one. The spec lists the
    /// IDs of the price list in effect (see `spec.rs`).
    ModelIdText = Constraints {
        name: "ModelId",
        description: "A model ID from the price list, or an inference profile of one (`global.`, `us.`, `eu.`, …).",
        pattern: None,
        min_length: Some(1),
        max_length: Some(128),
    }
);

named_string!(
    /// What a quota rule counts: a model family or a model as [`ModelIdText`] names one.
    ModelScopeText = Constraints {
        name: "ModelScope",
        description: "A model family (`haiku`, `opus`, `sonnet`) or a model ID from the price list (or an inference \
                      profile of one).",
        pattern: None,
        min_length: Some(1),
        max_length: Some(128),
    }
);

named_string!(
    /// An API key's public ID in a path.
    KeyIdPath = Constraints {
        name: "KeyIdParam",
        description: "An API key's ID: 12 lowercase hex digits (the part of the key after `tmk_`).",
        pattern: Some("^[0-9a-f]{12}$"),
        min_length: Some(12),
        max_length: Some(12),
    }
);

named_string!(
    /// A guest's API key, as `POST /guests` answered it.
    GuestKeyText = Constraints {
        name: "GuestKey",
        description: "A guest's API key: `tmk_`, 12 hex digits, `_`, 48 hex digits.",
        pattern: Some("^tmk_[0-9a-f]{12}_[0-9a-f]{48}$"),
        min_length: Some(65),
        max_length: Some(65),
    }
);

named_string!(
    /// An `Idempotency-Key` header.
    IdempotencyKeyText = Constraints {
        name: "IdempotencyKey",
        description: "1–255 visible ASCII characters, unique per request (a UUID does).",
        pattern: Some("^[!-~]+$"),
        min_length: Some(1),
        max_length: Some(255),
    }
);

named_string!(
    /// A conversation's ID in a path.
    ConversationIdPath = Constraints {
        name: "ConversationIdParam",
        description: "A conversation's ID: 16 lowercase hex digits.",
        pattern: Some(crate::domain::ConversationId::PATTERN),
        min_length: Some(16),
        max_length: Some(16),
    }
);

named_string!(
    /// A conversation's ID.
    ConversationIdText = Constraints {
        name: "ConversationId",
        description: "A conversation's ID: 16 lowercase hex digits.",
        pattern: Some(crate::domain::ConversationId::PATTERN),
        min_length: Some(16),
        max_length: Some(16),
    }
);

named_string!(
    /// A conversation's title.
    ConversationTitleText = Constraints {
        name: "ConversationTitle",
        description: "A conversation's title: 1–200 characters, not blank. Optional: without one, the first prompt names the conversation.",
        pattern: None,
        min_length: Some(1),
        max_length: Some(200),
    }
);
