//! What the bot says: answers, the automated-reply notice, and templates filled in.

use crate::clock::Millis;
use crate::core::choice::Choice;
use crate::core::conversation::Conversation;
use crate::core::customer::Customer;
use crate::core::error::Result;
use crate::core::matcher::Matcher;
use crate::core::message::{Author, TranscriptLine};
use crate::core::services::Writer;
use crate::core::template::{render, Vars};

use super::Engine;

impl Engine {
    /// The bot's reply to `customer`; the first reply of a conversation also says it is
    /// automated.
    pub(super) async fn bot_says(
        &self,
        w: &mut Writer<'_>,
        conv: &mut Conversation,
        customer: &Customer,
        text: String,
        choices: Vec<Choice>,
        now: Millis,
    ) -> Result<TranscriptLine> {
        let text = if conv.disclosed {
            text
        } else {
            conv.disclosed = true;
            let disclosure = self.template(&self.services.config.templates.disclosure, &[]);
            match self.returning_name(w, conv, customer).await? {
                Some(name) => {
                    let welcome = self.template(
                        &self.services.config.templates.welcome_back,
                        &[("customer.name", name)],
                    );
                    format!("{welcome} {disclosure}\n\n{text}")
                }
                None => format!("{disclosure}\n\n{text}"),
            }
        };
        Ok(
            w.say_with_choices(conv, Author::Bot, None, text, choices, now)
                .await?,
        )
    }

    /// The name of the conversation's customer if they had a conversation before this one, to
    /// greet them by it. `customer` is the one who wrote, as read in this transaction: when they
    /// are the conversation's customer and have no name, nothing needs to be read.
    async fn returning_name(
        &self,
        w: &mut Writer<'_>,
        conv: &Conversation,
        customer: &Customer,
    ) -> Result<Option<String>> {
        let name = if customer.id == conv.customer_id {
            customer.display_name.clone()
        } else {
            w.tx.customer(conv.customer_id)
                .await?
                .and_then(|c| c.display_name)
        };
        let Some(name) = name.filter(|n| !n.trim().is_empty()) else {
            return Ok(None);
        };
        let earlier =
            w.tx.earlier_conversations(conv.customer_id, conv.id)
                .await?;
        Ok((earlier > 0).then_some(name))
    }

    /// The intent's answer (variants in turn), with related questions if it has any, listed in
    /// the text and offered as buttons.
    pub(super) fn answer_text(
        &self,
        conv: &mut Conversation,
        matcher: &dyn Matcher,
        intent: &str,
        vars: &Vars,
    ) -> (String, Vec<Choice>) {
        let Some(info) = matcher.intent(intent) else {
            return (String::new(), Vec::new());
        };
        if info.answers.is_empty() {
            return (String::new(), Vec::new());
        }
        let variant = &info.answers[conv.answer_turn.unsigned_abs() as usize % info.answers.len()];
        conv.answer_turn = conv.answer_turn.wrapping_add(1);
        let mut text = render(variant, &[vars, &self.services.vars]);
        if !info.quick_replies.is_empty() {
            let related = self.template(
                &self.services.config.templates.related,
                &[("options", info.quick_replies.join(", "))],
            );
            text = format!("{text}\n\n{related}");
        }
        let choices = info
            .quick_replies
            .iter()
            .map(|q| Choice::new(q.clone(), q.clone()))
            .collect();
        (text, choices)
    }

    pub(super) fn template(&self, template: &str, extra: &[(&str, String)]) -> String {
        self.services.render(template, extra)
    }
}
