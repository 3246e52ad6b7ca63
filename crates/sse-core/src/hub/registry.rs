//! The client registry: who is connected, by key and by id.
//!
//! It owns two rules: a key kept after its client left never reaches a newer
//! client in the same slot (every key carries its entry's generation), and the id
//! index names only live clients, each id the newest client that took it.
//!
//! Layer 2 of the hub: owners.

use std::collections::HashMap;
use std::hash::RandomState;
use std::sync::Arc;

use slab::Slab;

use super::client::Client;
use super::hooks::ClientInfo;
use super::keys::ClientKey;

/// The connected clients, and the index of their ids.
#[derive(Debug)]
pub(crate) struct Registry {
    clients: Slab<Client>,
    /// Each id to the client that holds it now.
    ids: HashMap<Arc<str>, ClientKey>,
    /// The generation the next entry gets.
    next_generation: u64,
    /// The counter generated ids are made from.
    next_client_number: u64,
    /// The secret keys of generated ids.
    id_keys: RandomState,
    /// The topic list of every client without topics (most of them): one, shared.
    no_topics: Arc<[Arc<str>]>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry {
            clients: Slab::new(),
            ids: HashMap::new(),
            next_generation: 0,
            next_client_number: 1,
            id_keys: RandomState::new(),
            no_topics: Arc::new([]),
        }
    }
}

impl Registry {
    /// How many clients are connected.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether `key` is still a client's (not one that left, its slot maybe reused).
    #[inline]
    pub(crate) fn is_live(&self, key: ClientKey) -> bool {
        self.get(key).is_some()
    }

    /// The client `key` names, unless it left.
    #[inline]
    pub(crate) fn get(&self, key: ClientKey) -> Option<&Client> {
        self.clients.get(key.index).filter(|client| client.is(key))
    }

    /// The client `key` names, unless it left.
    #[inline]
    pub(crate) fn get_mut(&mut self, key: ClientKey) -> Option<&mut Client> {
        self.clients
            .get_mut(key.index)
            .filter(|client| client.is(key))
    }

    /// The key of the client with this id.
    #[inline]
    pub(crate) fn key_of(&self, id: &str) -> Option<ClientKey> {
        self.ids.get(id).copied()
    }

    /// The client with this id.
    #[inline]
    pub(crate) fn by_id(&self, id: &str) -> Option<&Client> {
        self.get(self.key_of(id)?)
    }

    /// The client with this id.
    #[inline]
    pub(crate) fn by_id_mut(&mut self, id: &str) -> Option<&mut Client> {
        self.get_mut(self.key_of(id)?)
    }

    /// Takes the id from the client holding it (it is being disconnected or
    /// replaced): the id no longer finds it. Returns that client.
    pub(crate) fn take_id(&mut self, id: &str) -> Option<&mut Client> {
        let key = self.ids.remove(id)?;
        self.get_mut(key)
    }

    /// The ids of the connected clients.
    pub(crate) fn ids(&self) -> impl Iterator<Item = &str> {
        self.ids.keys().map(|id| &**id)
    }

    /// Every client, with its key.
    pub(crate) fn iter_mut(&mut self) -> impl Iterator<Item = (ClientKey, &mut Client)> {
        self.clients.iter_mut().map(|(index, client)| {
            let key = ClientKey {
                index,
                generation: client.generation(),
            };
            (key, client)
        })
    }

    /// The info of a client with id `id` reading `topics`; clients without topics
    /// share one empty list.
    pub(crate) fn info(&self, id: Arc<str>, topics: Vec<Arc<str>>) -> ClientInfo {
        ClientInfo {
            id,
            topics: if topics.is_empty() {
                self.no_topics.clone()
            } else {
                topics.into()
            },
        }
    }

    /// Adds the client `make` makes with the generation of its entry, and indexes
    /// its id (taken from whoever held it). Returns its key.
    pub(crate) fn insert(&mut self, make: impl FnOnce(u64) -> Client) -> ClientKey {
        let generation = self.next_generation;
        self.next_generation += 1;
        let entry = self.clients.vacant_entry();
        let key = ClientKey {
            index: entry.key(),
            generation,
        };
        let client = entry.insert(make(generation));
        debug_assert!(client.is(key), "made with its entry's generation");
        self.ids.insert(client.info().id.clone(), key);
        key
    }

    /// Takes the client `key` names out (unless it left already), and its id out
    /// of the index if the id is still its own (not taken by a newer client).
    pub(crate) fn remove(&mut self, key: ClientKey) -> Option<Client> {
        self.get(key)?;
        let client = self.clients.remove(key.index);
        let id = &client.info().id;
        if self.ids.get(id) == Some(&key) {
            self.ids.remove(id);
        }
        Some(client)
    }

    /// A fresh id no one can guess: 128 bits of SipHash, keyed by the OS's
    /// randomness when the hub was made, over a counter. Knowing an id is what lets
    /// a request send to that client, so it must not be derivable from others.
    pub(crate) fn generate_id(&mut self) -> Arc<str> {
        use std::hash::BuildHasher;
        loop {
            let number = self.next_client_number;
            self.next_client_number += 1;
            let [high, low] = [0u8, 1].map(|half| self.id_keys.hash_one((number, half)));
            let id = format!("client-{high:016x}{low:016x}");
            if !self.ids.contains_key(id.as_str()) {
                return id.into();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;
    use crate::hub::log::Cursor;

    fn add(registry: &mut Registry, id: &str) -> ClientKey {
        let info = registry.info(id.into(), Vec::new());
        let cursor = Cursor {
            next: 0,
            live_from: 0,
        };
        registry.insert(|generation| Client::new(generation, info, cursor, [], false))
    }

    #[test]
    fn a_key_kept_after_its_client_left_never_reaches_a_newer_one() {
        let mut registry = Registry::default();
        let old = add(&mut registry, "a");
        assert!(registry.remove(old).is_some());
        let new = add(&mut registry, "b");
        assert_eq!(new.index, old.index, "the slot is reused");
        assert!(!registry.is_live(old));
        assert!(registry.get(old).is_none());
        assert!(registry.get_mut(old).is_none());
        assert!(registry.remove(old).is_none());
        assert_eq!(
            registry.by_id("b").map(|c| c.info().id.clone()),
            Some("b".into())
        );
        assert_eq!(registry.len(), 1);
    }

    #[test]
    fn removing_a_replaced_client_keeps_the_new_clients_id() {
        let mut registry = Registry::default();
        let old = add(&mut registry, "a");
        assert!(registry.take_id("a").is_some());
        assert!(registry.by_id("a").is_none(), "the id is taken");
        let new = add(&mut registry, "a");
        assert!(registry.remove(old).is_some());
        assert_eq!(registry.key_of("a"), Some(new));
        assert!(registry.remove(new).is_some());
        assert_eq!(registry.key_of("a"), None);
        assert_eq!(registry.ids().count(), 0);
    }

    #[test]
    fn generated_ids_are_distinct_and_128_bits_of_hex() {
        let mut registry = Registry::default();
        let ids: HashSet<Arc<str>> = (0..1000).map(|_| registry.generate_id()).collect();
        assert_eq!(ids.len(), 1000);
        for id in &ids {
            let hex = id.strip_prefix("client-").expect("client- first");
            assert_eq!(hex.len(), 32);
            assert!(hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')));
        }
        let other: HashSet<Arc<str>> = (0..1000)
            .map(|_| Registry::default().generate_id())
            .collect();
        assert_eq!(other.len(), 1000, "each registry has keys of its own");
    }

    #[test]
    fn clients_without_topics_share_one_list() {
        let registry = Registry::default();
        let a = registry.info("a".into(), Vec::new());
        let b = registry.info("b".into(), Vec::new());
        assert!(Arc::ptr_eq(&a.topics, &b.topics));
        let c = registry.info("c".into(), vec!["news".into()]);
        assert_eq!(&*c.topics, [Arc::<str>::from("news")]);
    }

    #[test]
    fn iterating_gives_each_clients_own_key() {
        let mut registry = Registry::default();
        let a = add(&mut registry, "a");
        registry.remove(a);
        let b = add(&mut registry, "b");
        let c = add(&mut registry, "c");
        let mut keys: Vec<ClientKey> = registry.iter_mut().map(|(key, _)| key).collect();
        keys.sort_by_key(|key| key.index);
        assert_eq!(keys, [b, c]);
    }
}
