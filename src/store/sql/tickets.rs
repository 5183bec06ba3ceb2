//! Tickets and the queue. Its SQL and its part of each database's transaction type.

pub(in crate::store) const CREATE_TICKET: &str =
    "INSERT INTO tickets (conversation_id, customer_id, channel, status, subject, reason, \
                          intents, created_at) \
     VALUES ($1, $2, $3, 'open', $4, $5, $6, $7) RETURNING id";
pub(in crate::store) const TICKET: &str =
    concat!("SELECT ", ticket_columns!(), " FROM tickets WHERE id = $1");
pub(in crate::store) const UPDATE_TICKET: &str =
    "UPDATE tickets SET status = $2, assignee = $3, claimed_at = $4, first_reply_at = $5, \
            resolved_at = $6, closed_at = $7, csat = $8, priority = $9, tags = $10, \
            breached_at = $11, closed_by = $12 \
     WHERE id = $1";
pub(in crate::store) const CLAIM_TICKET: &str = "UPDATE tickets SET assignee = $2 \
     WHERE id = $1 AND status IN ('open', 'assigned') AND assignee IS NOT DISTINCT FROM $3";
/// Up to four statuses in `$1..$4` (there are four); unused ones repeat the first.
pub(in crate::store) const LIST_TICKETS: &str =
    ticket_summary_query!("WHERE t.status IN ($1, $2, $3, $4) ORDER BY t.created_at, t.id");
pub(in crate::store) const TICKET_SUMMARY: &str = ticket_summary_query!("WHERE t.id = $1");
/// Open tickets ahead in the queue's order: more urgent, or as urgent and older (ties on
/// `created_at` broken by id), the order the queue is listed in.
pub(in crate::store) const QUEUE_POSITION: &str = concat!(
    "SELECT COUNT(o.id) + 1 \
     FROM tickets t \
     JOIN tickets o ON o.status = 'open' \
                   AND (",
    priority_rank!("o"),
    " < ",
    priority_rank!("t"),
    " OR (",
    priority_rank!("o"),
    " = ",
    priority_rank!("t"),
    " AND (o.created_at < t.created_at \
                        OR (o.created_at = t.created_at AND o.id < t.id)))) \
     WHERE t.id = $1"
);
pub(in crate::store) const RECENT_CLAIM_WAITS: &str =
    "SELECT claimed_at - created_at FROM tickets WHERE claimed_at IS NOT NULL \
     ORDER BY claimed_at DESC, id DESC LIMIT $1";
pub(in crate::store) const CUSTOMER_TICKETS: &str = concat!(
    "SELECT ",
    ticket_columns!(),
    " FROM tickets WHERE customer_id = $1 AND id <> $2 ORDER BY created_at DESC, id DESC"
);

/// Implements [`TicketStore`](crate::store::TicketStore) for a transaction type of `sql::impl_tx!`.
macro_rules! impl_tickets {
    ($tx:ident) => {
        #[async_trait]
        impl TicketStore for $tx {
            async fn create_ticket(&mut self, t: &NewTicket) -> Result<Ticket> {
                let id: i64 = sqlx::query_scalar(sql::CREATE_TICKET)
                    .bind(t.conversation_id)
                    .bind(t.customer_id)
                    .bind(&t.channel)
                    .bind(&t.subject)
                    .bind(&t.reason)
                    .bind(sql::to_json("ticket intents", &t.intents)?)
                    .bind(t.created_at)
                    .fetch_one(self.db().await?)
                    .await?;
                Ok(Ticket {
                    id,
                    conversation_id: t.conversation_id,
                    customer_id: t.customer_id,
                    channel: t.channel.clone(),
                    status: TicketStatus::Open,
                    subject: t.subject.clone(),
                    reason: t.reason.clone(),
                    intents: t.intents.clone(),
                    assignee: None,
                    created_at: t.created_at,
                    claimed_at: None,
                    first_reply_at: None,
                    resolved_at: None,
                    closed_at: None,
                    csat: None,
                    priority: Default::default(),
                    tags: Vec::new(),
                    breached_at: None,
                    closed_by: None,
                })
            }

            async fn ticket(&mut self, id: i64) -> Result<Option<Ticket>> {
                let row = sqlx::query(sql::TICKET)
                    .bind(id)
                    .fetch_optional(self.db().await?)
                    .await?;
                row.as_ref().map(ticket).transpose()
            }

            async fn claim_ticket(
                &mut self,
                ticket_id: i64,
                agent: i64,
                held_by: Option<i64>,
            ) -> Result<bool> {
                let done = sqlx::query(sql::CLAIM_TICKET)
                    .bind(ticket_id)
                    .bind(agent)
                    .bind(held_by)
                    .execute(self.db().await?)
                    .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn update_ticket(&mut self, t: &Ticket) -> Result<()> {
                sqlx::query(sql::UPDATE_TICKET)
                    .bind(t.id)
                    .bind(t.status.as_str())
                    .bind(t.assignee)
                    .bind(t.claimed_at)
                    .bind(t.first_reply_at)
                    .bind(t.resolved_at)
                    .bind(t.closed_at)
                    .bind(t.csat)
                    .bind(t.priority.as_str())
                    .bind(sql::to_json("ticket tags", &t.tags)?)
                    .bind(t.breached_at)
                    .bind(&t.closed_by)
                    .execute(self.db().await?)
                    .await?;
                Ok(())
            }

            async fn list_tickets(
                &mut self,
                statuses: &[TicketStatus],
            ) -> Result<Vec<TicketSummary>> {
                let Some(first) = statuses.first() else {
                    return Ok(Vec::new());
                };
                let status = |i: usize| statuses.get(i).unwrap_or(first).as_str();
                let rows = sqlx::query(sql::LIST_TICKETS)
                    .bind(status(0))
                    .bind(status(1))
                    .bind(status(2))
                    .bind(status(3))
                    .fetch_all(self.db().await?)
                    .await?;
                let mut tickets = all(rows, ticket_summary)?;
                // More than four statuses can only repeat one; keep the query static anyway.
                tickets.retain(|s| statuses.contains(&s.ticket.status));
                // The queue's order: most urgent first, then oldest (the query's order; the
                // sort is stable).
                tickets.sort_by_key(|s| s.ticket.priority.rank());
                Ok(tickets)
            }

            async fn ticket_summary(&mut self, id: i64) -> Result<Option<TicketSummary>> {
                let row = sqlx::query(sql::TICKET_SUMMARY)
                    .bind(id)
                    .fetch_optional(self.db().await?)
                    .await?;
                row.as_ref().map(ticket_summary).transpose()
            }

            async fn queue_position(&mut self, ticket_id: i64) -> Result<i64> {
                let position: Option<i64> = sqlx::query_scalar(sql::QUEUE_POSITION)
                    .bind(ticket_id)
                    .fetch_optional(self.db().await?)
                    .await?;
                Ok(position.unwrap_or(1))
            }

            async fn recent_claim_waits(&mut self, limit: i64) -> Result<Vec<Millis>> {
                Ok(sqlx::query_scalar(sql::RECENT_CLAIM_WAITS)
                    .bind(limit)
                    .fetch_all(self.db().await?)
                    .await?)
            }

            async fn customer_tickets(
                &mut self,
                customer_id: i64,
                except: i64,
            ) -> Result<Vec<Ticket>> {
                let rows = sqlx::query(sql::CUSTOMER_TICKETS)
                    .bind(customer_id)
                    .bind(except)
                    .fetch_all(self.db().await?)
                    .await?;
                all(rows, ticket)
            }
        }
    };
}

pub(in crate::store) use impl_tickets;
