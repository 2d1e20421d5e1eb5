//! Who may do what. A [`Principal`] is the authenticated caller; every domain operation asks
//! it first. The few operations no caller makes (the first admin key at start-up, the sweep
//! of idle guests) take a [`Bootstrap`] capability instead, which only start-up code holds.
//!
//! [`Tracker`]: super::Tracker
//! [`Keys`]: super::Keys

use super::{Error, KeyId, UserId};

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Manages everything. `key` is `None` for the start-up key from `TOKENMETER_ADMIN_KEY`.
    Admin { key: Option<KeyId> },
    /// Sees and spends only its own user.
    User { user: UserId, key: KeyId },
}

/// The right to act without a caller: held by the service's own start-up and background
/// tasks, never derived from a request.
#[derive(Debug, Clone, Copy)]
pub struct Bootstrap(());

impl Bootstrap {
    /// For the service's start-up and its background tasks only.
    pub fn for_the_service_itself() -> Self {
        Self(())
    }
}

impl Principal {
    /// Admin-only operations: creating, listing, re-limiting and deleting users; keys.
    pub fn require_admin(&self) -> Result<(), Error> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::User { .. } => {
                Err(Error::Forbidden("this needs an admin API key; user keys can only read and spend their own user"))
            }
        }
    }

    /// Reading or spending as `user`. Another user's data answers exactly as a missing user
    /// would, so a user key cannot even learn which IDs exist.
    pub fn require_user(&self, user: &UserId) -> Result<(), Error> {
        match self {
            Principal::Admin { .. } => Ok(()),
            Principal::User { user: own, .. } if own == user => Ok(()),
            Principal::User { .. } => Err(Error::UserNotFound(user.clone())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> UserId {
        UserId::parse("userId", s).unwrap()
    }

    #[test]
    fn user_keys_reach_only_their_own_user_and_never_admin_operations() {
        let alice = Principal::User { user: id("alice"), key: KeyId::generate() };
        assert!(alice.require_user(&id("alice")).is_ok());
        assert!(matches!(alice.require_user(&id("bob")), Err(Error::UserNotFound(u)) if u == id("bob")));
        assert!(matches!(alice.require_admin(), Err(Error::Forbidden(_))));

        let admin = Principal::Admin { key: None };
        assert!(admin.require_admin().is_ok());
        assert!(admin.require_user(&id("bob")).is_ok());
    }
}
