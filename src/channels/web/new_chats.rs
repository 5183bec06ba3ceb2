//! New chat sessions, stored in batches: the customers and sessions of chats opened at the same
//! time commit in one transaction, so a rush of new visitors costs one disk flush instead of one
//! each. A batch that fails is rolled back and each of its chats is stored on its own, so one
//! bad chat never fails the others.

use std::sync::Arc;
use std::time::Duration;

use super::WEB;
use crate::clock::Millis;
use crate::core::batcher::{BatchLimits, Batcher, Queued};
use crate::core::customer::Customer;
use crate::core::services::Services;
use crate::store::{Result, WebSession};

/// Chats opened together are few compared with messages; a bound keeps one transaction short.
const BATCH_MAX: usize = 64;

/// A chat to open: its customer (created, or found by key) and its session.
#[derive(Clone)]
pub(super) struct NewChat {
    pub key: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub session_id: String,
    pub token_hash: String,
    pub now: Millis,
}

#[derive(Default)]
pub(super) struct NewChats {
    batcher: Batcher<NewChat, Result<Customer>>,
}

impl NewChats {
    /// Stores the chat's customer and session (committed together: never one without the
    /// other) and returns the customer.
    pub(super) async fn open(&self, services: &Arc<Services>, chat: NewChat) -> Result<Customer> {
        let limits = BatchLimits {
            max: BATCH_MAX,
            wait: Duration::ZERO,
        };
        let retry = chat.clone();
        let stored = self
            .batcher
            .submit(chat, limits, |batch| {
                let services = services.clone();
                async move { commit(&services, batch).await }
            })
            .await;
        match stored {
            Some(customer) => customer,
            // The batch that took it stopped before committing, so nothing of it is stored.
            None => store(services, &[&retry]).await.map(first),
        }
    }
}

async fn commit(services: &Services, batch: Vec<Queued<NewChat, Result<Customer>>>) {
    let chats: Vec<&NewChat> = batch.iter().map(|q| &q.item).collect();
    match store(services, &chats).await {
        Ok(customers) => {
            for (queued, customer) in batch.into_iter().zip(customers) {
                let _ = queued.done.send(Ok(customer));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(queued) = batch.into_iter().next() {
                let _ = queued.done.send(Err(e));
            }
        }
        Err(_) => {
            for queued in batch {
                let stored = store(services, &[&queued.item]).await.map(first);
                let _ = queued.done.send(stored);
            }
        }
    }
}

/// Stores the chats in one transaction; their customers, in order. The customers come first,
/// then the sessions together (which the store may write in one statement).
async fn store(services: &Services, chats: &[&NewChat]) -> Result<Vec<Customer>> {
    let mut w = services.write().await?;
    let mut customers = Vec::new();
    for chat in chats {
        let customer =
            w.tx.upsert_customer(WEB, &chat.key, chat.name.as_deref(), chat.now)
                .await?;
        if chat.email.is_some() {
            w.tx.set_customer_email(customer.id, chat.email.as_deref())
                .await?;
        }
        customers.push(customer);
    }
    for (chat, customer) in chats.iter().zip(&customers) {
        w.tx.create_web_session(&WebSession {
            id: chat.session_id.clone(),
            token_hash: chat.token_hash.clone(),
            customer_id: customer.id,
            created_at: chat.now,
        })
        .await?;
    }
    w.commit().await?;
    Ok(customers)
}

fn first(mut customers: Vec<Customer>) -> Customer {
    customers.swap_remove(0)
}
