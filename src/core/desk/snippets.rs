//! Snippets: the list agents pick from, and one filled in for a ticket.

use crate::core::agent::Agent;
use crate::core::error::{CoreError, Result};
use crate::core::services::Writer;
use crate::core::snippet::{self, Snippet, SnippetError};
use crate::core::ticket::Ticket;

use super::Desk;

impl Desk {
    /// Every snippet, read and checked afresh.
    pub fn snippets(&self) -> Result<Vec<Snippet>> {
        snippet::load_dir(
            &self.services.config.desk.snippets_dir,
            &self.snippet_vars(),
        )
        .map_err(snippet_error)
    }

    fn snippet_vars(&self) -> std::collections::BTreeSet<String> {
        self.services.config.known_vars()
    }

    pub(super) async fn render_snippet(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        ticket: &Ticket,
        name: &str,
    ) -> Result<String> {
        let snippet = snippet::load(
            &self.services.config.desk.snippets_dir,
            name,
            &self.snippet_vars(),
        )
        .map_err(snippet_error)?;
        let customer = w.tx.customer(ticket.customer_id).await?;
        let customer_name = customer.and_then(|c| c.display_name).unwrap_or_default();
        Ok(self.services.render(
            &snippet.text,
            &[
                ("ticket", ticket.id.to_string()),
                ("agent", self.public_name(agent)),
                ("customer.name", customer_name),
            ],
        ))
    }
}

fn snippet_error(e: SnippetError) -> CoreError {
    match e {
        SnippetError::Unknown(_) | SnippetError::Invalid { .. } => {
            CoreError::Invalid(e.to_string())
        }
        SnippetError::Io { .. } => {
            tracing::error!(error = %e, "reading snippets failed");
            CoreError::Invalid(e.to_string())
        }
    }
}
