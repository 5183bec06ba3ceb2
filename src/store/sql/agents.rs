//! Agents, by token or by platform identity. Its SQL and its part of each database's transaction type.

/// A taken name (or token hash) inserts nothing instead of failing, so the caller gets `Conflict`
/// and, on PostgreSQL, a transaction that is still usable.
pub(in crate::store) const CREATE_AGENT: &str =
    "INSERT INTO agents (name, token_hash, created_at) VALUES ($1, $2, $3) \
     ON CONFLICT DO NOTHING RETURNING id";
pub(in crate::store) const AGENTS: &str = "SELECT id, name, platform, created_at FROM agents \
     WHERE removed_at IS NULL ORDER BY name, id";
pub(in crate::store) const AGENT: &str = "SELECT id, name, platform, created_at FROM agents \
     WHERE id = $1 AND removed_at IS NULL";
pub(in crate::store) const AGENT_BY_TOKEN_HASH: &str =
    "SELECT id, name, platform, created_at FROM agents \
     WHERE token_hash = $1 AND removed_at IS NULL";
pub(in crate::store) const REMOVE_AGENT: &str =
    "UPDATE agents SET removed_at = $2, token_hash = NULL \
     WHERE id = $1 AND removed_at IS NULL";
/// Returns the row even when the agent was removed (`removed_at` set), so the caller can refuse:
/// removing a platform agent outlasts their role on the platform.
pub(in crate::store) const UPSERT_PLATFORM_AGENT: &str =
    "INSERT INTO agents (name, created_at, platform, platform_user_id) VALUES ($3, $4, $1, $2) \
     ON CONFLICT (platform, platform_user_id) WHERE platform IS NOT NULL \
     DO UPDATE SET name = excluded.name \
     RETURNING id, name, platform, created_at, removed_at";

/// Implements [`AgentStore`](crate::store::AgentStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_agents {
    ($tx:ident) => {
        #[async_trait]
        impl AgentStore for $tx {
            async fn create_agent(
                &mut self,
                name: &str,
                token_hash: &str,
                now: Millis,
            ) -> Result<Agent> {
                let id: Option<i64> = sqlx::query_scalar(sql::CREATE_AGENT)
                    .bind(name)
                    .bind(token_hash)
                    .bind(now)
                    .fetch_optional(self.db().await?)
                    .await
                    .map_err(|e| sql::conflict_or_database(e, name))?;
                match id {
                    Some(id) => Ok(Agent {
                        id,
                        name: name.to_string(),
                        platform: None,
                        created_at: now,
                    }),
                    None => Err($crate::store::StoreError::Conflict(name.to_string())),
                }
            }

            async fn agents(&mut self) -> Result<Vec<Agent>> {
                let rows = sqlx::query(sql::AGENTS).fetch_all(self.db().await?).await?;
                all(rows, agent)
            }

            async fn agent(&mut self, id: i64) -> Result<Option<Agent>> {
                let row = sqlx::query(sql::AGENT)
                    .bind(id)
                    .fetch_optional(self.db().await?)
                    .await?;
                row.as_ref().map(agent).transpose()
            }

            async fn agent_by_token_hash(&mut self, token_hash: &str) -> Result<Option<Agent>> {
                let row = sqlx::query(sql::AGENT_BY_TOKEN_HASH)
                    .bind(token_hash)
                    .fetch_optional(self.db().await?)
                    .await?;
                row.as_ref().map(agent).transpose()
            }

            async fn remove_agent(&mut self, id: i64, now: Millis) -> Result<bool> {
                let done = sqlx::query(sql::REMOVE_AGENT)
                    .bind(id)
                    .bind(now)
                    .execute(self.db().await?)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn platform_agent(
                &mut self,
                platform: &str,
                user_id: &str,
                name: &str,
                now: Millis,
            ) -> Result<Agent> {
                let row = sqlx::query(sql::UPSERT_PLATFORM_AGENT)
                    .bind(platform)
                    .bind(user_id)
                    .bind(name)
                    .bind(now)
                    .fetch_one(self.db().await?)
                    .await?;
                let removed: Option<Millis> = row.try_get("removed_at")?;
                if removed.is_some() {
                    // Taken off the team: the identity no longer acts as an agent until an
                    // admin adds it back.
                    return Err($crate::store::StoreError::Conflict(format!(
                        "agent {name} was removed from the team"
                    )));
                }
                agent(&row)
            }
        }
    };
}

pub(in crate::store) use impl_agents;
