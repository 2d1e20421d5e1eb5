//! Update and condition expressions with named placeholders: every attribute name becomes
//! `#nN` and every value `:vN`, so no expression text ever holds data, and one step's parts
//! (SET, ADD, REMOVE, conditions) are written where they are decided.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;

/// One item's change and the conditions it is made under.
#[derive(Debug, Default, Clone)]
pub(super) struct Change {
    set: Vec<String>,
    add: Vec<String>,
    remove: Vec<String>,
    conditions: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

pub(super) fn n(value: impl std::fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

impl Change {
    pub(super) fn new() -> Self {
        Self::default()
    }

    /// The placeholder of an attribute path (`holds.abc` → `#n1.#n2`).
    fn path(&mut self, path: &[&str]) -> String {
        path.iter()
            .map(|part| {
                if let Some((placeholder, _)) = self.names.iter().find(|(_, name)| name == part) {
                    return placeholder.clone();
                }
                let placeholder = format!("#n{}", self.names.len());
                self.names.insert(placeholder.clone(), (*part).to_owned());
                placeholder
            })
            .collect::<Vec<_>>()
            .join(".")
    }

    fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// `SET path = value`.
    pub(super) fn set(&mut self, path: &[&str], value: AttributeValue) -> &mut Self {
        let (p, v) = (self.path(path), self.value(value));
        self.set.push(format!("{p} = {v}"));
        self
    }

    /// `SET path = if_not_exists(path, value)`.
    pub(super) fn set_once(&mut self, path: &[&str], value: AttributeValue) -> &mut Self {
        let (p, v) = (self.path(path), self.value(value));
        self.set.push(format!("{p} = if_not_exists({p}, {v})"));
        self
    }

    /// `ADD attr by` (nothing when `by` is zero).
    pub(super) fn add(&mut self, attr: &str, by: i128) -> &mut Self {
        if by != 0 {
            let (p, v) = (self.path(&[attr]), self.value(n(by)));
            self.add.push(format!("{p} {v}"));
        }
        self
    }

    /// `REMOVE path`.
    pub(super) fn remove(&mut self, path: &[&str]) -> &mut Self {
        let p = self.path(path);
        self.remove.push(p);
        self
    }

    /// The item (its key attribute `attr`) exists.
    pub(super) fn require_exists(&mut self, path: &[&str]) -> &mut Self {
        let p = self.path(path);
        self.conditions.push(format!("attribute_exists({p})"));
        self
    }

    pub(super) fn require_absent(&mut self, path: &[&str]) -> &mut Self {
        let p = self.path(path);
        self.conditions.push(format!("attribute_not_exists({p})"));
        self
    }

    /// `attr = value`.
    pub(super) fn require_equal(&mut self, attr: &str, value: AttributeValue) -> &mut Self {
        let (p, v) = (self.path(&[attr]), self.value(value));
        self.conditions.push(format!("{p} = {v}"));
        self
    }

    /// `attr` is absent (zero) or at most `max`.
    pub(super) fn require_at_most(&mut self, attr: &str, max: u128) -> &mut Self {
        let (p, v) = (self.path(&[attr]), self.value(n(max)));
        self.conditions.push(format!("(attribute_not_exists({p}) OR {p} <= {v})"));
        self
    }

    /// The attribute at `absent` does not exist, or the one at `path` is below `value`.
    pub(super) fn require_absent_or_less(
        &mut self,
        absent: &[&str],
        path: &[&str],
        value: AttributeValue,
    ) -> &mut Self {
        let (a, p, v) = (self.path(absent), self.path(path), self.value(value));
        self.conditions.push(format!("(attribute_not_exists({a}) OR {p} < {v})"));
        self
    }

    /// The string at `attr` starts with `prefix`.
    pub(super) fn require_prefix(&mut self, attr: &str, prefix: AttributeValue) -> &mut Self {
        let (p, v) = (self.path(&[attr]), self.value(prefix));
        self.conditions.push(format!("begins_with({p}, {v})"));
        self
    }

    /// The map at `attr` holds at least one entry.
    pub(super) fn require_nonempty(&mut self, attr: &str) -> &mut Self {
        let (p, v) = (self.path(&[attr]), self.value(n(0)));
        self.conditions.push(format!("size({p}) > {v}"));
        self
    }

    /// The map at `attr` is absent or empty.
    pub(super) fn require_empty(&mut self, attr: &str) -> &mut Self {
        let (p, v) = (self.path(&[attr]), self.value(n(0)));
        self.conditions.push(format!("(attribute_not_exists({p}) OR size({p}) = {v})"));
        self
    }

    /// `path < value`.
    pub(super) fn require_less(&mut self, path: &[&str], value: AttributeValue) -> &mut Self {
        let (p, v) = (self.path(path), self.value(value));
        self.conditions.push(format!("{p} < {v}"));
        self
    }

    /// `SET … ADD … REMOVE …`.
    pub(super) fn expression(&self) -> String {
        let mut parts = Vec::new();
        if !self.set.is_empty() {
            parts.push(format!("SET {}", self.set.join(", ")));
        }
        if !self.add.is_empty() {
            parts.push(format!("ADD {}", self.add.join(", ")));
        }
        if !self.remove.is_empty() {
            parts.push(format!("REMOVE {}", self.remove.join(", ")));
        }
        parts.join(" ")
    }

    /// Every condition, joined by `AND`.
    pub(super) fn condition(&self) -> Option<String> {
        (!self.conditions.is_empty()).then(|| self.conditions.join(" AND "))
    }

    pub(super) fn names(&self) -> Option<HashMap<String, String>> {
        (!self.names.is_empty()).then(|| self.names.clone())
    }

    pub(super) fn values(&self) -> Option<HashMap<String, AttributeValue>> {
        (!self.values.is_empty()).then(|| self.values.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_named_and_reused() {
        let mut change = Change::new();
        change
            .add("tokenUsage", 5)
            .add("committedTokens", -3)
            .add("ignored", 0)
            .set(&["holds", "h1"], s("x"))
            .remove(&["holds", "h0"])
            .require_exists(&["userId"])
            .require_at_most("committedTokens", 100);
        assert_eq!(change.expression(), "SET #n2.#n3 = :v2 ADD #n0 :v0, #n1 :v1 REMOVE #n2.#n4");
        assert_eq!(change.condition().unwrap(), "attribute_exists(#n5) AND (attribute_not_exists(#n1) OR #n1 <= :v3)");
        assert_eq!(change.names().unwrap()["#n1"], "committedTokens");
        assert_eq!(change.values().unwrap()[":v1"], n(-3));
    }
}
