//! The embedded store's writes, applied by its one writer thread inside a batch transaction.
//! Each write checks every condition before it changes anything, so a write that is refused
//! leaves no trace and does not affect the rest of its batch.

use redb::{ReadableTable, TableHandle};

use super::{
    records::{
        COUNTERS, ClaimRecord, CounterRecord, EVENTS, EVENTS_BY_USER, IDEMPOTENCY, KEYS, KeyRecord, META, ROLLUPS,
        TIERS, TierRecord, USERS, UserRecord, claim_id, decode,
    },
    tables::{Tables, unavailable},
};
use crate::{
    domain::{
        Amounts, ApiKey, Hold, HoldId, IdempotencyClaim, IdempotencyState, KeyId, Recording, Release, Reservation,
        Settlement, StoreError, StoredTier, Tier, TierName, Timestamp, UsageEvent, User, UserChange, UserId,
    },
    store::codec::{StoredAmounts, StoredEvent, StoredTotals, encode_rules},
};

/// What a write answers with.
pub(super) enum Written {
    Nothing,
    User(User),
    MaybeUser(Option<User>),
    Key(ApiKey),
    Tier(StoredTier),
    /// Whether a claim (of a firing, or its resolution) was this write's.
    Claimed(bool),
    Conversation(crate::domain::ConversationSummary),
}

/// The outer `Result` is a storage failure (it aborts the batch); the inner one is the write's answer.
pub(super) type Applied = Result<Result<Written, StoreError>, StoreError>;

fn add(a: StoredAmounts, b: Amounts) -> StoredAmounts {
    Amounts::from(a).saturating_add(b).into()
}

fn sub(a: StoredAmounts, b: Amounts) -> StoredAmounts {
    Amounts::from(a).saturating_sub(b).into()
}

macro_rules! refuse {
    ($why:expr) => {
        return Ok(Err($why))
    };
}

pub(super) fn insert_user(
    t: &mut Tables<'_>,
    user: &User,
    claim: Option<&(IdempotencyClaim, serde_json::Value)>,
) -> Applied {
    if let Some((claim, _)) = claim
        && let Some(claimed) = t.claimed(claim)?
    {
        refuse!(claimed);
    }
    if t.user(&user.id)?.is_some() {
        refuse!(StoreError::AlreadyExists);
    }
    if let Some(tier) = &user.tier
        && !t.count_member(tier.as_str(), 1)?
    {
        refuse!(StoreError::NotFound);
    }
    t.save_user(&user.id, &UserRecord::new(user))?;
    if let Some((claim, outcome)) = claim {
        t.put_claim(claim, IdempotencyState::Applied(Some(outcome.clone())))?;
    }
    Ok(Ok(Written::Nothing))
}

pub(super) fn update_user(t: &mut Tables<'_>, id: &UserId, change: &UserChange, at: Timestamp) -> Applied {
    let Some(mut user) = t.user(id)? else { refuse!(StoreError::NotFound) };
    match change {
        UserChange::Limit(limit) => user.limit = limit.get(),
        UserChange::Quotas(rules) => user.quotas = (!rules.is_empty()).then(|| encode_rules(rules)),
        UserChange::Tier(to) => {
            let to = to.as_ref().map(TierName::to_string);
            if to != user.tier {
                if let Some(new) = &to
                    && !t.count_member(new, 1)?
                {
                    refuse!(StoreError::Refused);
                }
                if let Some(old) = &user.tier {
                    t.count_member(old, -1)?;
                }
                user.tier = to;
            }
        }
    }
    user.rules_version += 1;
    user.updated_ms = at.millis();
    t.save_user(id, &user)?;
    Ok(user.to_user(id).map(Written::User))
}

pub(super) fn delete_user(t: &mut Tables<'_>, id: &UserId, at: Timestamp) -> Applied {
    let Some(user) = t.user(id)? else { refuse!(StoreError::NotFound) };
    if let Some(tier) = &user.tier {
        t.count_member(tier, -1)?;
    }
    t.remove(USERS, id.as_str())?;
    for counter in t.keys_with_prefix(COUNTERS, &format!("{id}|"))? {
        t.remove(COUNTERS, &counter)?;
    }
    revoke_keys_of(t, id, at)?;
    super::conversations::remove_all(t, id)?;
    Ok(Ok(Written::Nothing))
}

/// Revokes every key of `user` not yet revoked.
fn revoke_keys_of(t: &mut Tables<'_>, user: &UserId, at: Timestamp) -> Result<(), StoreError> {
    let mut owned = Vec::new();
    for entry in t.table(KEYS).iter().map_err(unavailable)? {
        let (id, bytes) = entry.map_err(unavailable)?;
        let record: KeyRecord = decode("keys", bytes.value())?;
        if record.user.as_deref() == Some(user.as_str()) && record.revoked_ms.is_none() {
            owned.push((id.value().to_owned(), record));
        }
    }
    for (id, mut record) in owned {
        record.revoked_ms = Some(at.millis());
        t.put(KEYS, &id, &record)?;
    }
    Ok(())
}

pub(super) fn reserve(t: &mut Tables<'_>, r: &Reservation) -> Applied {
    let Some(mut user) = t.user(&r.user)? else { refuse!(StoreError::NotFound) };
    if let Some(claim) = &r.idempotency
        && let Some(claimed) = t.claimed(claim)?
    {
        refuse!(claimed);
    }
    let tier_holds = match (&r.guards.tier_version, &user.tier) {
        (Some((name, version)), Some(tier)) => {
            name.as_str() == tier && t.tier(tier)?.is_some_and(|stored| stored.version == *version)
        }
        (None, None) => true,
        _ => false,
    };
    if user.rules_version != r.guards.rules_version || !tier_holds {
        refuse!(StoreError::Refused);
    }
    let amounts = r.hold.amounts;
    let committed = Amounts::from(user.used).saturating_add(user.held.into()).saturating_add(amounts);
    if !r.account.admits(committed) || !t.counters_admit(&r.user, &r.counters, amounts)? {
        refuse!(StoreError::Refused);
    }
    t.change_counters(&r.user, r.counters.iter().map(|c| (&c.key, c.expires_at)), |c| c.held = add(c.held, amounts))?;
    user.held = add(user.held, amounts);
    user.store_hold(&r.hold);
    t.save_user(&r.user, &user)?;
    if let Some(claim) = &r.idempotency {
        t.put_claim(claim, IdempotencyState::Pending)?;
    }
    Ok(user.to_user(&r.user).map(Written::User))
}

pub(super) fn settle(t: &mut Tables<'_>, s: &Settlement) -> Applied {
    let Some(mut user) = t.user(&s.user)? else { refuse!(StoreError::NotFound) };
    let Some(hold) = user.hold(s.hold.id.as_str())? else { refuse!(StoreError::HoldGone) };
    // A lease keeps its hold, holding less; a call's hold goes.
    let released = match s.keep {
        Some(keep) => {
            user.store_hold(&Hold { amounts: keep, ..hold.clone() });
            hold.amounts.saturating_sub(keep)
        }
        None => {
            user.holds.remove(hold.id.as_str());
            hold.amounts
        }
    };
    user.held = sub(user.held, released);
    user.used = add(user.used, s.used);
    user.updated_ms = s.at.millis();
    t.change_counters(&s.user, hold.counters.iter().map(|k| (k, None)), |c| {
        c.held = sub(c.held, released);
        c.used = add(c.used, s.used);
    })?;
    t.save_user(&s.user, &user)?;
    for event in &s.events {
        t.put_event(event)?;
    }
    for (claim, outcome) in &s.claims {
        t.put_claim(claim, IdempotencyState::Applied(Some(outcome.clone())))?;
    }
    Ok(user.to_user(&s.user).map(Written::User))
}

pub(super) fn release(t: &mut Tables<'_>, r: &Release) -> Applied {
    if let Some(event) = &r.event {
        t.put_event(event)?;
    }
    if let Some(claim) = &r.idempotency {
        t.remove(IDEMPOTENCY, &claim_id(&claim.scope, claim.key.as_str()))?;
    }
    let Some(mut user) = t.user(&r.user)? else { return Ok(Ok(Written::MaybeUser(None))) };
    let Some(hold) = user.hold(r.hold.id.as_str())? else { return Ok(Ok(Written::MaybeUser(None))) };
    if r.expired_before.is_some_and(|before| hold.expires_at >= before) {
        return Ok(Ok(Written::MaybeUser(None)));
    }
    user.holds.remove(hold.id.as_str());
    user.held = sub(user.held, hold.amounts);
    t.change_counters(&r.user, hold.counters.iter().map(|k| (k, None)), |c| c.held = sub(c.held, hold.amounts))?;
    t.save_user(&r.user, &user)?;
    Ok(user.to_user(&r.user).map(|u| Written::MaybeUser(Some(u))))
}

pub(super) fn renew(t: &mut Tables<'_>, id: &UserId, hold: &HoldId, expires_at: Timestamp) -> Applied {
    let Some(mut user) = t.user(id)? else { refuse!(StoreError::HoldGone) };
    let Some(stored) = user.holds.get_mut(hold.as_str()) else { refuse!(StoreError::HoldGone) };
    stored.expires_ms = expires_at.millis();
    t.save_user(id, &user)?;
    Ok(Ok(Written::Nothing))
}

pub(super) fn record(t: &mut Tables<'_>, r: &Recording) -> Applied {
    let Some(mut user) = t.user(&r.user)? else { refuse!(StoreError::NotFound) };
    if let Some(claim) = &r.idempotency
        && let Some(claimed) = t.claimed(claim)?
    {
        refuse!(claimed);
    }
    // Usage stays within 2^53 − 1, exact in every JSON reader.
    if user.used.tokens.checked_add(r.amounts.tokens).is_none_or(|total| total > crate::domain::MAX_TOKENS) {
        refuse!(StoreError::Overflow);
    }
    let committed = Amounts::from(user.used).saturating_add(user.held.into()).saturating_add(r.amounts);
    if !r.account.admits(committed) || !t.counters_admit(&r.user, &r.counters, r.amounts)? {
        refuse!(StoreError::Refused);
    }
    let amounts = r.amounts;
    t.change_counters(&r.user, r.counters.iter().map(|c| (&c.key, c.expires_at)), |c| c.used = add(c.used, amounts))?;
    user.used = add(user.used, amounts);
    user.updated_ms = r.event.at.millis();
    t.save_user(&r.user, &user)?;
    t.put_event(&r.event)?;
    if let Some(claim) = &r.idempotency {
        t.put_claim(claim, IdempotencyState::Applied(None))?;
    }
    Ok(user.to_user(&r.user).map(Written::User))
}

pub(super) fn complete_claim(t: &mut Tables<'_>, claim: &IdempotencyClaim, outcome: &serde_json::Value) -> Applied {
    t.put_claim(claim, IdempotencyState::Applied(Some(outcome.clone())))?;
    Ok(Ok(Written::Nothing))
}

pub(super) fn migrate_guest(t: &mut Tables<'_>, guest: &UserId, into: &User) -> Applied {
    let Some(record) = t.user(guest)? else { refuse!(StoreError::NotFound) };
    if t.user(&into.id)?.is_some() {
        refuse!(StoreError::AlreadyExists);
    }
    if !record.holds.is_empty() {
        refuse!(StoreError::Refused);
    }
    if let Some(tier) = &into.tier
        && t.tier(tier.as_str())?.is_none()
    {
        refuse!(StoreError::NotFound);
    }
    if let Some(tier) = &record.tier {
        t.count_member(tier, -1)?;
    }
    if let Some(tier) = &into.tier {
        t.count_member(tier.as_str(), 1)?;
    }
    let mut moved = UserRecord::new(into);
    moved.used = record.used;
    let prefix = format!("{guest}|");
    for key in t.keys_with_prefix(COUNTERS, &prefix)? {
        if let Some(counter) = t.get::<CounterRecord>(COUNTERS, &key)? {
            t.put(COUNTERS, &format!("{}|{}", into.id, &key[prefix.len()..]), &counter)?;
        }
        t.remove(COUNTERS, &key)?;
    }
    t.remove(USERS, guest.as_str())?;
    t.save_user(&into.id, &moved)?;
    revoke_keys_of(t, guest, into.last_updated)?;
    super::conversations::move_all(t, guest, &into.id)?;
    Ok(moved.to_user(&into.id).map(Written::User))
}

pub(super) fn insert_key(t: &mut Tables<'_>, key: &ApiKey) -> Applied {
    if t.get::<KeyRecord>(KEYS, key.id.as_str())?.is_some() {
        refuse!(StoreError::AlreadyExists);
    }
    if let crate::domain::Role::User(user) = &key.role
        && t.user(user)?.is_none()
    {
        refuse!(StoreError::NotFound);
    }
    t.put(KEYS, key.id.as_str(), &KeyRecord::new(key))?;
    Ok(Ok(Written::Nothing))
}

pub(super) fn revoke_key(t: &mut Tables<'_>, id: &KeyId, at: Timestamp) -> Applied {
    let Some(mut record) = t.get::<KeyRecord>(KEYS, id.as_str())? else { refuse!(StoreError::NotFound) };
    record.revoked_ms.get_or_insert(at.millis());
    t.put(KEYS, id.as_str(), &record)?;
    Ok(record.to_key(id.clone()).map(Written::Key))
}

pub(super) fn put_tier(t: &mut Tables<'_>, tier: &Tier) -> Applied {
    let name = tier.name.as_str();
    let (version, members) = t.tier(name)?.map_or((0, 0), |old| (old.version, old.members));
    let record = TierRecord { rules: encode_rules(&tier.rules), version: version + 1, members };
    t.put(TIERS, name, &record)?;
    Ok(record.to_tier(name).map(Written::Tier))
}

pub(super) fn delete_tier(t: &mut Tables<'_>, name: &TierName) -> Applied {
    let Some(tier) = t.tier(name.as_str())? else { refuse!(StoreError::NotFound) };
    if tier.members > 0 {
        refuse!(StoreError::InUse(tier.members));
    }
    t.remove(TIERS, name.as_str())?;
    Ok(Ok(Written::Nothing))
}

pub(super) fn seed_tiers(t: &mut Tables<'_>, tiers: &[Tier]) -> Applied {
    if t.get::<bool>(META, "tiers_seeded")?.is_some() {
        return Ok(Ok(Written::Nothing));
    }
    for tier in tiers {
        if t.tier(tier.name.as_str())?.is_none() {
            t.put(TIERS, tier.name.as_str(), &TierRecord { rules: encode_rules(&tier.rules), version: 1, members: 0 })?;
        }
    }
    t.put(META, "tiers_seeded", &true)?;
    Ok(Ok(Written::Nothing))
}

pub(super) fn put_event(t: &mut Tables<'_>, event: &UsageEvent) -> Applied {
    t.put_event(event)?;
    Ok(Ok(Written::Nothing))
}

/// Forgets what has expired: period counters, idempotency claims, events and roll-ups. Run in
/// the background, never on a request's path.
pub(super) fn sweep(t: &mut Tables<'_>, now: Timestamp) -> Applied {
    let now = now.millis();
    let mut forget = Vec::new();
    for (table, expired) in [
        (
            COUNTERS,
            &(|b: &[u8]| decode::<CounterRecord>("counters", b).map(|c| c.expires_ms.is_some_and(|e| e < now)))
                as &dyn Fn(&[u8]) -> Result<bool, StoreError>,
        ),
        (IDEMPOTENCY, &|b: &[u8]| {
            decode::<ClaimRecord>("idempotency", b).map(|c| c.expired(Timestamp::from_millis(now)))
        }),
        (ROLLUPS, &|b: &[u8]| decode::<StoredTotals>("rollups", b).map(|r| r.expires < now)),
        (EVENTS, &|b: &[u8]| decode::<StoredEvent>("events", b).map(|e| e.expires < now)),
    ] {
        for entry in t.table(table).iter().map_err(unavailable)? {
            let (key, bytes) = entry.map_err(unavailable)?;
            if expired(bytes.value()).unwrap_or(false) {
                forget.push((table, key.value().to_owned(), bytes.value().to_vec()));
            }
        }
    }
    for (table, key, bytes) in forget {
        if table.name() == EVENTS.name()
            && let Ok(event) = decode::<StoredEvent>("events", &bytes)
        {
            t.remove(EVENTS_BY_USER, &format!("{}|{key}", event.user))?;
        }
        t.remove(table, &key)?;
    }
    super::alerts::sweep(t, Timestamp::from_millis(now))?;
    Ok(Ok(Written::Nothing))
}
