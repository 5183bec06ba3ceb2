//! New chat sessions, stored in batches: the customers and sessions of chats opened at the same
//! time are written together in the inbox's next batch transaction
//! ([`Engine::write_in_batch`]), so a rush of new visitors shares the disk flush of the messages
//! being stored alongside instead of costing one of its own. A batch that fails is rolled back
//! and each of its chats is stored on its own, so one bad chat never fails the others.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::WEB;
use crate::clock::Millis;
use crate::core::batcher::{answer_each, BatchLimits, Batcher, Queued};
use crate::core::customer::Customer;
use crate::core::engine::Engine;
use crate::core::error::Result;
use crate::core::group_commit::BatchWrite;
use crate::store::{Tx, WebSession};

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
    pub(super) async fn open(&self, engine: &Engine, chat: NewChat) -> Result<Customer> {
        let limits = BatchLimits {
            max: BATCH_MAX,
            wait: Duration::ZERO,
        };
        let retry = chat.clone();
        let stored = self
            .batcher
            .submit(chat, limits, |batch| {
                let engine = engine.clone();
                async move { commit(&engine, batch).await }
            })
            .await;
        match stored {
            Some(customer) => customer,
            // The batch that took it stopped before committing, so nothing of it is stored.
            None => store(engine, vec![retry]).await.map(first),
        }
    }
}

async fn commit(engine: &Engine, batch: Vec<Queued<NewChat, Result<Customer>>>) {
    let chats: Vec<NewChat> = batch.iter().map(|q| q.item.clone()).collect();
    let stored = store(engine, chats).await;
    answer_each(batch, stored, |chat| async move {
        store(engine, vec![chat]).await.map(first)
    })
    .await;
}

/// Stores the chats in the inbox's next batch transaction; their customers, in order.
async fn store(engine: &Engine, chats: Vec<NewChat>) -> Result<Vec<Customer>> {
    let open = Arc::new(OpenChats {
        chats,
        customers: Mutex::default(),
    });
    engine.write_in_batch(open.clone()).await?;
    let customers = std::mem::take(&mut *open.customers.lock().unwrap_or_else(|p| p.into_inner()));
    Ok(customers)
}

/// Chats to store, and their customers once stored.
struct OpenChats {
    chats: Vec<NewChat>,
    customers: Mutex<Vec<Customer>>,
}

#[async_trait]
impl BatchWrite for OpenChats {
    /// The customers come first, in one statement, then the sessions together (which the store
    /// may also write in one).
    async fn write(&self, tx: &mut dyn Tx) -> Result<()> {
        let keys: Vec<_> = self
            .chats
            .iter()
            .map(|chat| (chat.key.as_str(), chat.name.as_deref(), chat.now))
            .collect();
        let customers = tx.upsert_customers(WEB, &keys).await?;
        for (chat, customer) in self.chats.iter().zip(&customers) {
            if chat.email.is_some() {
                tx.set_customer_email(customer.id, chat.email.as_deref())
                    .await?;
            }
        }
        for (chat, customer) in self.chats.iter().zip(&customers) {
            tx.create_web_session(&WebSession {
                id: chat.session_id.clone(),
                token_hash: chat.token_hash.clone(),
                customer_id: customer.id,
                created_at: chat.now,
            })
            .await?;
        }
        // Set last: a batch that fails after this write is rolled back, and the write made again.
        *self.customers.lock().unwrap_or_else(|p| p.into_inner()) = customers;
        Ok(())
    }
}

fn first(mut customers: Vec<Customer>) -> Customer {
    customers.swap_remove(0)
}
