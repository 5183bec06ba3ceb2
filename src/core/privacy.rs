//! Customers' data rights: what is stored about whom, export of all of it, erasure, and the
//! retention timer that removes finished conversations' text after `[privacy] retention_days`.
//!
//! A person may have several customers rows (a web login, a Discord user, a Slack user) linked
//! by a person id; export and erasure always cover every row of the person.

use serde::Serialize;
use serde_json::{json, Map, Value};

use crate::clock::{rfc3339, Millis};
use crate::core::error::{CoreError, Result};
use crate::core::services::{Services, Writer};

/// Timer kind of the retention pass (subject 0: it is about no ticket).
pub const RETENTION: &str = "retention";
/// How often the retention pass runs.
const RETENTION_EVERY_MS: i64 = 60 * 60 * 1000;
/// Conversations one pass handles; with more, the next pass comes at once.
const RETENTION_BATCH: i64 = 500;
const DAY_MS: i64 = 24 * 60 * 60 * 1000;

/// One customers row, for `frontline customers list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CustomerRecord {
    pub id: i64,
    pub channel: String,
    pub external_id: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// Rows with the same person are one person's identities.
    pub person: i64,
    pub created_at: Millis,
    pub conversations: i64,
    pub tickets: i64,
}

/// Every customer stored.
pub async fn list(services: &Services) -> Result<Vec<CustomerRecord>> {
    let mut tx = services.store.read().await?;
    Ok(tx.customer_records().await?)
}

/// Everything stored about the person `customer_id` belongs to, as one JSON document: for each
/// table, its rows about any of the person's identities; and their ratings. `NotFound` if there
/// is no such customer.
pub async fn export(services: &Services, customer_id: i64) -> Result<Value> {
    let mut tx = services.store.read().await?;
    let ids = tx.person_customers(customer_id).await?;
    if ids.is_empty() {
        return Err(CoreError::NotFound(format!("customer {customer_id}")));
    }
    let mut tables: Map<String, Value> = Map::new();
    for id in &ids {
        for (table, rows) in tx.customer_rows(*id).await? {
            let entry = tables
                .entry(table.to_string())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(list) = entry {
                for mut row in rows {
                    // A hash of the session's secret says nothing about the person.
                    if let Value::Object(o) = &mut row {
                        o.remove("token_hash");
                    }
                    list.push(row);
                }
            }
        }
    }
    let ratings: Vec<Value> = tables
        .get("tickets")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| !t["csat"].is_null())
        .map(|t| json!({ "ticket": t["id"], "csat": t["csat"], "resolved_at": t["resolved_at"] }))
        .collect();
    Ok(json!({
        "customer_id": customer_id,
        "identities": ids,
        "exported_at": rfc3339(services.now()),
        "tables": tables,
        "ratings": ratings,
    }))
}

/// What [`forget`] erased.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Forgotten {
    /// The customers rows (identities) erased.
    pub identities: Vec<i64>,
    /// Tickets kept for the team's records, without text, shown as "erased".
    pub tickets_kept: Vec<i64>,
}

/// Erases everything stored about the person `customer_id` belongs to, every identity, in one
/// transaction. `NotFound` if there is no such customer.
pub async fn forget(services: &Services, customer_id: i64) -> Result<Forgotten> {
    let now = services.now();
    let mut w = services.write().await?;
    let ids = w.tx.person_customers(customer_id).await?;
    if ids.is_empty() {
        return Err(CoreError::NotFound(format!("customer {customer_id}")));
    }
    // Where instances share the database, the person's conversations are locked first: a
    // message of theirs being handled elsewhere is then either erased with the rest or stored
    // after the erasure, as a new customer's, never half of each.
    if w.tx.locks_conversations() {
        let mut conversations = Vec::new();
        for id in &ids {
            for (table, rows) in w.tx.customer_rows(*id).await? {
                if table == "conversations" {
                    conversations.extend(rows.into_iter().filter_map(|c| {
                        Some((
                            c["channel"].as_str()?.to_string(),
                            c["conversation_key"].as_str()?.to_string(),
                        ))
                    }));
                }
            }
        }
        w.lock_all(conversations.iter().map(|(c, k)| (c.as_str(), k.as_str())))
            .await?;
    }
    let mut tickets_kept = Vec::new();
    for id in &ids {
        for (table, rows) in w.tx.customer_rows(*id).await? {
            if table == "tickets" {
                tickets_kept.extend(rows.iter().filter_map(|t| t["id"].as_i64()));
            }
        }
        w.tx.forget_customer(*id, now).await?;
    }
    w.commit().await?;
    tracing::info!(
        identities = ids.len(),
        tickets_kept = tickets_kept.len(),
        "customer erased"
    );
    Ok(Forgotten {
        identities: ids,
        tickets_kept,
    })
}

/// Makes two customers rows one person, so export and erasure cover both.
pub async fn link(services: &Services, a: i64, b: i64) -> Result<()> {
    let mut w = services.write().await?;
    if !w.tx.link_customers(a, b).await? {
        return Err(CoreError::NotFound(format!("customer {a} or {b}")));
    }
    w.commit().await?;
    Ok(())
}

/// Plans the first retention pass if retention is on and none is planned (at start; several
/// instances may race here, and an extra pass does no harm).
pub async fn schedule_retention(services: &Services) -> Result<()> {
    if services.config.privacy.retention_days == 0 {
        return Ok(());
    }
    let mut w = services.write().await?;
    if !w.tx.has_pending_timer(RETENTION).await? {
        let now = services.now();
        w.tx.schedule_timer(RETENTION, 0, now).await?;
        w.commit().await?;
    }
    Ok(())
}

/// The retention timer fired: removes what is past `[privacy] retention_days` and plans the next
/// pass (none once retention is turned off).
pub async fn retention_pass(w: &mut Writer<'_>, services: &Services, now: Millis) -> Result<()> {
    let days = i64::from(services.config.privacy.retention_days);
    if days == 0 {
        return Ok(());
    }
    let cutoff = now - days * DAY_MS;
    let expired =
        w.tx.expire_conversations(cutoff, now, RETENTION_BATCH)
            .await?;
    if expired > 0 {
        tracing::info!(
            conversations = expired,
            "retention removed old conversations' text"
        );
    }
    let next = if expired as i64 >= RETENTION_BATCH {
        now
    } else {
        now + RETENTION_EVERY_MS
    };
    w.tx.schedule_timer(RETENTION, 0, next).await?;
    Ok(())
}
