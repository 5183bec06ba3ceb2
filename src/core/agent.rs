//! Human agents. Tokens are random secrets shown once; only their SHA-256 is stored.

use sha2::{Digest, Sha256};

use crate::clock::Millis;

#[derive(Debug, Clone, PartialEq)]
pub struct Agent {
    pub id: i64,
    pub name: String,
    /// For an agent known by a chat platform identity (no token), that platform.
    pub platform: Option<String>,
    pub created_at: Millis,
}

/// Why [`find`] found no single agent; shown to whoever named the agent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FindError {
    #[error("no such agent")]
    NotFound,
    #[error("{count} agents are named '{name}' (ids {ids}); use the id")]
    Ambiguous {
        name: String,
        count: usize,
        ids: String,
    },
}

/// The agent named by `who`: an agent id, or a name that only one agent has. Names need not be
/// unique (platform agents keep their platform names), so everything that takes an agent takes
/// either.
pub fn find<'a>(agents: &'a [Agent], who: &str) -> Result<&'a Agent, FindError> {
    let who = who.trim();
    if let Ok(id) = who.trim_start_matches('#').parse::<i64>() {
        if let Some(agent) = agents.iter().find(|a| a.id == id) {
            return Ok(agent);
        }
    }
    let named: Vec<&Agent> = agents.iter().filter(|a| a.name == who).collect();
    match named.as_slice() {
        [] => Err(FindError::NotFound),
        [one] => Ok(one),
        many => Err(FindError::Ambiguous {
            name: who.to_string(),
            count: many.len(),
            ids: many
                .iter()
                .map(|a| a.id.to_string())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

/// A fresh bearer token: 32 random bytes, hex encoded.
pub fn new_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// What the store keeps instead of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agent(id: i64, name: &str, platform: Option<&str>) -> Agent {
        Agent {
            id,
            name: name.into(),
            platform: platform.map(str::to_string),
            created_at: 0,
        }
    }

    #[test]
    fn agents_are_found_by_id_or_unambiguous_name() {
        let agents = [
            agent(1, "alice", None),
            agent(2, "sam", Some("discord")),
            agent(3, "sam", Some("slack")),
        ];
        assert_eq!(find(&agents, "alice").unwrap().id, 1);
        assert_eq!(find(&agents, "3").unwrap().id, 3);
        assert_eq!(find(&agents, "#2").unwrap().id, 2);
        assert_eq!(find(&agents, "bob"), Err(FindError::NotFound));
        let err = find(&agents, "sam").unwrap_err();
        assert_eq!(
            err.to_string(),
            "2 agents are named 'sam' (ids 2, 3); use the id"
        );
    }

    #[test]
    fn tokens_are_unique_and_hashes_hide_them() {
        let (a, b) = (new_token(), new_token());
        assert_ne!(a, b);
        assert_eq!(a.len(), 64);
        assert_ne!(token_hash(&a), a);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
    }
}
