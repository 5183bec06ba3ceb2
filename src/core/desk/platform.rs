//! Lines agents write in a ticket's thread on a desk platform, and the `!` commands among them.

use crate::config::RelayMode;
use crate::core::agent::Agent;
use crate::core::command::{self, Command};
use crate::core::error::{CoreError, Result};
use crate::core::message::Inbound;
use crate::core::services::Writer;

use super::{Desk, Message};

impl Desk {
    /// Acts on what an agent wrote in a ticket's thread on a desk platform (or a card button,
    /// which the adapter hands over as the matching `!` command). The adapter has checked the
    /// author holds the agent role there; the desk checks, as for the agent API, that they may
    /// act on this ticket. A refused or malformed command is answered in the thread, and noted.
    pub(crate) async fn platform_line(&self, w: &mut Writer<'_>, msg: &Inbound) -> Result<()> {
        let now = self.services.now();
        let platform = msg.channel.as_str();
        let Some(ticket_id) = w.tx.ticket_by_card(platform, &msg.conversation_key).await? else {
            tracing::debug!(platform, "agent line outside any ticket thread; ignored");
            return Ok(());
        };
        let name = msg
            .customer_name
            .clone()
            .unwrap_or_else(|| format!("{platform} agent {}", msg.customer_key));
        let agent = match w
            .tx
            .platform_agent(platform, &msg.customer_key, &name, now)
            .await
        {
            Ok(agent) => agent,
            Err(crate::store::StoreError::Conflict(why)) => {
                return self.notice(w, ticket_id, &why).await;
            }
            Err(e) => return Err(e.into()),
        };
        let explicit = self.services.config.desk.relay == RelayMode::Explicit;
        let done = match command::parse(&msg.text, explicit) {
            Ok(None) => Ok(()),
            Ok(Some(command)) => self.command_in(w, &agent, ticket_id, command).await,
            Err(e) => Err(CoreError::Invalid(e.to_string())),
        };
        match done {
            Err(CoreError::Store(e)) => Err(CoreError::Store(e)),
            Err(refused) => {
                let text = format!("{}: {refused}", agent.name);
                self.notice(w, ticket_id, &text).await
            }
            Ok(()) => Ok(()),
        }
    }

    /// Acts on one thread command, with the same checks as the agent API.
    async fn command_in(
        &self,
        w: &mut Writer<'_>,
        agent: &Agent,
        id: i64,
        command: Command,
    ) -> Result<()> {
        // Lines written in the thread are there already: no echo.
        let (w, echo) = (w, false);
        match command {
            Command::Reply(text) => self
                .send_in(w, agent, id, Message::Reply(text), echo)
                .await
                .map(drop),
            Command::Note(text) => self
                .send_in(w, agent, id, Message::Note(text), echo)
                .await
                .map(drop),
            Command::Anon(text) => self
                .send_in(w, agent, id, Message::Anonymous(text), echo)
                .await
                .map(drop),
            Command::Snippet(name) => self
                .send_in(w, agent, id, Message::Snippet(name), echo)
                .await
                .map(drop),
            Command::Claim => self.claim_in(w, agent, id).await.map(drop),
            Command::Close(reason) => self.close_in(w, agent, id, &reason).await.map(drop),
            Command::Release => self.release_in(w, agent, id).await.map(drop),
            Command::Transfer(to) => self.transfer_in(w, agent, id, &to).await.map(drop),
            Command::Reopen => self.reopen_in(w, agent, id).await.map(drop),
            Command::Priority(p) => self.priority_in(w, agent, id, &p).await.map(drop),
            Command::Tag(t) => self.tag_in(w, agent, id, &[t], &[]).await.map(drop),
            Command::Untag(t) => self.tag_in(w, agent, id, &[], &[t]).await.map(drop),
            Command::Block => self.block_in(w, agent, id, true).await.map(drop),
            Command::Unblock => self.block_in(w, agent, id, false).await.map(drop),
        }
    }
}
