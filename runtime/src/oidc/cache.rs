//! Validated tokens, kept until they expire so that a repeated token costs a lookup.

use super::Principal;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A validated token's entry.
struct Entry {
    principal: Arc<Principal>,
    /// The last second (Unix time) at which it is valid: its `exp` plus the leeway.
    until: u64,
    /// The index of its issuer.
    issuer: usize,
}

/// Validated tokens, keyed by their whole text (so that a different token never matches), at most
/// `capacity` of them.
pub(super) struct Cache {
    entries: Mutex<HashMap<Box<str>, Entry>>,
    capacity: usize,
}

impl Cache {
    pub fn new(capacity: usize) -> Cache {
        Cache { entries: Mutex::new(HashMap::new()), capacity: capacity.max(1) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The principal of `token`, if it was validated and is still valid at `now`.
    pub fn get(&self, token: &str, now: u64) -> Option<Arc<Principal>> {
        let mut entries = self.lock();
        match entries.get(token) {
            Some(entry) if now <= entry.until => Some(entry.principal.clone()),
            Some(_) => {
                entries.remove(token);
                None
            }
            None => None,
        }
    }

    /// Keeps `token`, valid until `until`. When full, expired tokens go first; if none has,
    /// a sixteenth of the tokens, whichever the map yields first (its order is random).
    pub fn insert(&self, token: &str, principal: Arc<Principal>, until: u64, issuer: usize, now: u64) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity && !entries.contains_key(token) {
            entries.retain(|_, e| now <= e.until);
            if entries.len() >= self.capacity {
                let evicted: Vec<Box<str>> = entries.keys().take((self.capacity / 16).max(1)).cloned().collect();
                for key in evicted {
                    entries.remove(&key);
                }
            }
        }
        entries.insert(token.into(), Entry { principal, until, issuer });
    }

    /// Drops the tokens of one issuer (whose keys changed).
    pub fn forget(&self, issuer: usize) {
        self.lock().retain(|_, e| e.issuer != issuer);
    }

    /// How many tokens are kept.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn principal(name: &str) -> Arc<Principal> {
        Arc::new(Principal { identity: name.to_owned(), groups: Arc::from([]), issuer: "https://a.org".to_owned(), expires: 0 })
    }

    #[test]
    fn tokens_are_kept_until_they_expire_and_the_cache_stays_bounded() {
        let cache = Cache::new(32);
        cache.insert("t1", principal("alice"), 100, 0, 50);
        assert_eq!(cache.get("t1", 100).map(|p| p.identity.clone()).as_deref(), Some("alice"));
        assert!(cache.get("t1x", 100).is_none(), "another token never matches");
        assert!(cache.get("t1", 101).is_none(), "expired");
        assert_eq!(cache.len(), 0, "an expired token is dropped when seen");
        for i in 0..100 {
            cache.insert(&format!("t{i}"), principal("bob"), 1000, i % 2, 60);
            assert!(cache.len() <= 32);
        }
        assert!(cache.get("t99", 70).is_some(), "the newest is kept");
        cache.forget(1);
        assert!(cache.get("t99", 70).is_none(), "an issuer's tokens are forgotten");
        assert!(cache.len() > 0);
        // Full of expired tokens: they go first.
        let cache = Cache::new(4);
        for i in 0..4 {
            cache.insert(&format!("old{i}"), principal("x"), 10, 0, 5);
        }
        cache.insert("new", principal("y"), 100, 0, 50);
        assert_eq!(cache.len(), 1);
    }
}
