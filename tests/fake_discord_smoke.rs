//! Proof that the fake Discord speaks the protocol the real serenity 0.12.5 client expects: a
//! plain serenity client (no frontline code) against `common::fake_discord`.
#![cfg(feature = "discord")]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::fake_discord::{
    FakeDiscord, FakeUser, ResumeMode, AGENT_ROLE_ID, EPHEMERAL, GUILD_ID, STAFF_CHANNEL_ID,
    SUPPORT_CHANNEL_ID, TOKEN,
};
use serde_json::json;
use serenity::all::{
    Channel, ChannelId, ChannelType, ClientBuilder, ComponentInteraction, Context, CreateActionRow,
    CreateAllowedMentions, CreateAttachment, CreateButton, CreateInteractionResponse,
    CreateInteractionResponseFollowup, CreateInteractionResponseMessage, CreateMessage,
    CreateThread, EditInteractionResponse, EventHandler, GatewayIntents, GetMessages, GuildId,
    HttpBuilder, Interaction, Message, MessageId, Ready, ResumedEvent, ShardManager, UserId,
};
use serenity::http::{Http, HttpError};

const WAIT: Duration = Duration::from_secs(10);

/// What the handler saw, for assertions the fake cannot make.
#[derive(Default)]
struct Seen {
    readies: u32,
    /// Per DM channel: the last message id handled (for catch-up after a reconnect).
    last_in_dm: HashMap<ChannelId, MessageId>,
    /// (status, Discord code) of errors the handler provoked on purpose.
    errors: Vec<(u16, isize)>,
    /// Button presses: (custom_id, the member's roles in guilds, the user's id).
    clicks: Vec<(String, Option<Vec<String>>, String)>,
}

struct Handler {
    seen: Arc<Mutex<Seen>>,
}

fn discord_error(e: &serenity::Error) -> Option<(u16, isize)> {
    match e {
        serenity::Error::Http(HttpError::UnsuccessfulRequest(r)) => {
            Some((r.status_code.as_u16(), r.error.code))
        }
        _ => None,
    }
}

impl Handler {
    async fn echo(&self, ctx: &Context, msg: &Message) {
        let mut text = format!("echo: {}", msg.content);
        for a in &msg.attachments {
            text.push_str(&format!(" [{}]", a.url));
        }
        let builder = CreateMessage::new()
            .content(text)
            .allowed_mentions(CreateAllowedMentions::new())
            .components(vec![CreateActionRow::Buttons(vec![
                CreateButton::new("smoke-ok").label("OK"),
                CreateButton::new("smoke-slow").label("Slow"),
            ])]);
        // Noted before the echo goes out: a test that sees the echo may reconnect at once.
        {
            let mut seen = self.seen.lock().unwrap();
            let last = seen.last_in_dm.entry(msg.channel_id).or_insert(msg.id);
            *last = (*last).max(msg.id);
        }
        msg.channel_id
            .send_message(&ctx.http, builder)
            .await
            .expect("echo sent");
    }

    /// After READY or RESUMED: fetch what arrived in known DMs while away, oldest first.
    async fn catch_up(&self, ctx: &Context) {
        let known: Vec<(ChannelId, MessageId)> = self
            .seen
            .lock()
            .unwrap()
            .last_in_dm
            .iter()
            .map(|(c, m)| (*c, *m))
            .collect();
        for (channel, last) in known {
            let mut missed = channel
                .messages(&ctx.http, GetMessages::new().after(last).limit(100))
                .await
                .expect("messages after");
            missed.sort_by_key(|m| m.id);
            for m in missed.iter().filter(|m| !m.author.bot) {
                self.echo(ctx, m).await;
            }
        }
    }

    async fn component(&self, ctx: &Context, c: &ComponentInteraction) {
        let roles = c
            .member
            .as_ref()
            .map(|m| m.roles.iter().map(|r| r.to_string()).collect());
        self.seen.lock().unwrap().clicks.push((
            c.data.custom_id.clone(),
            roles,
            c.user.id.to_string(),
        ));
        match c.data.custom_id.as_str() {
            "smoke-slow" => {
                // Too late: past the 3 s deadline the interaction is unknown (10062).
                tokio::time::sleep(Duration::from_millis(3200)).await;
                if let Err(e) = c
                    .create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
                    .await
                {
                    self.seen.lock().unwrap().errors.extend(discord_error(&e));
                }
                return;
            }
            "smoke-claim" => {
                // Deferred ephemeral answer, then the original response is written.
                c.create_response(
                    &ctx.http,
                    CreateInteractionResponse::Defer(
                        CreateInteractionResponseMessage::new().ephemeral(true),
                    ),
                )
                .await
                .expect("defer");
                c.edit_response(
                    &ctx.http,
                    EditInteractionResponse::new().content(format!("claimed by {}", c.user.name)),
                )
                .await
                .expect("edit original");
                return;
            }
            _ => {}
        }
        c.create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
            .await
            .expect("deferred update accepted");
        // A second initial response is refused (40060).
        if let Err(e) = c
            .create_response(&ctx.http, CreateInteractionResponse::Acknowledge)
            .await
        {
            self.seen.lock().unwrap().errors.extend(discord_error(&e));
        }
        c.create_followup(
            &ctx.http,
            CreateInteractionResponseFollowup::new()
                .content(format!("clicked {}", c.data.custom_id))
                .ephemeral(true),
        )
        .await
        .expect("follow-up");
    }
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, ctx: Context, ready: Ready) {
        assert_eq!(ready.user.id.to_string(), common::fake_discord::BOT_ID);
        self.seen.lock().unwrap().readies += 1;
        self.catch_up(&ctx).await;
    }

    async fn resume(&self, ctx: Context, _: ResumedEvent) {
        self.catch_up(&ctx).await;
    }

    async fn message(&self, ctx: Context, msg: Message) {
        if msg.author.bot {
            return;
        }
        match msg.guild_id {
            None => self.echo(&ctx, &msg).await,
            Some(guild) => {
                assert_eq!(guild.to_string(), GUILD_ID);
                let member = msg
                    .member
                    .as_ref()
                    .expect("gateway guild messages carry member");
                let roles: Vec<String> = member.roles.iter().map(|r| r.to_string()).collect();
                if msg.channel_id.to_string() != SUPPORT_CHANNEL_ID {
                    return;
                }
                let thread = msg
                    .channel_id
                    .create_thread_from_message(&ctx.http, msg.id, CreateThread::new("ticket"))
                    .await
                    .expect("thread");
                let card = CreateMessage::new()
                    .content(format!("thread for {} (roles {roles:?})", msg.author.name))
                    .components(vec![CreateActionRow::Buttons(vec![CreateButton::new(
                        "smoke-claim",
                    )
                    .label("Claim")])]);
                thread
                    .id
                    .send_message(&ctx.http, card)
                    .await
                    .expect("message in thread");
                // A second thread on the same message is refused (160004).
                if let Err(e) = msg
                    .channel_id
                    .create_thread_from_message(&ctx.http, msg.id, CreateThread::new("again"))
                    .await
                {
                    self.seen.lock().unwrap().errors.extend(discord_error(&e));
                }
            }
        }
    }

    async fn interaction_create(&self, ctx: Context, interaction: Interaction) {
        if let Interaction::Component(c) = interaction {
            self.component(&ctx, &c).await;
        }
    }
}

fn http(fake: &FakeDiscord) -> Http {
    HttpBuilder::new(TOKEN)
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build()
}

/// A serenity client against the fake, running in the background.
const INTENTS: GatewayIntents = GatewayIntents::GUILDS
    .union(GatewayIntents::GUILD_MESSAGES)
    .union(GatewayIntents::DIRECT_MESSAGES)
    .union(GatewayIntents::MESSAGE_CONTENT);

async fn client(fake: &FakeDiscord) -> (Arc<Mutex<Seen>>, Arc<ShardManager>) {
    client_with(fake, INTENTS).await
}

async fn client_with(
    fake: &FakeDiscord,
    intents: GatewayIntents,
) -> (Arc<Mutex<Seen>>, Arc<ShardManager>) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .with_ansi(false)
        .try_init();
    let seen = Arc::new(Mutex::new(Seen::default()));
    // Client::builder(TOKEN, intents) with our own Http, so REST goes to the fake.
    let mut client = ClientBuilder::new_with_http(http(fake), intents)
        .event_handler(Handler { seen: seen.clone() })
        .await
        .expect("client");
    let shards = client.shard_manager.clone();
    tokio::spawn(async move {
        let _ = client.start().await;
    });
    (seen, shards)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dm_echo_button_and_thread() {
    let fake = FakeDiscord::start().await;
    let (seen, shards) = client(&fake).await;
    fake.wait_ready(1).await.unwrap();
    assert_eq!(fake.identify_count(), 1);
    let intents = fake.identify_payloads()[0]["intents"].as_u64().unwrap();
    assert_ne!(intents & (1 << 15), 0, "MESSAGE_CONTENT requested");
    assert!(fake.requests_to("GET", "/gateway").len() == 1);

    // A DM reaches `message`; the echo is recorded with its allowed_mentions and button.
    let alice = FakeUser::customer("alice");
    let m1 = fake
        .dm_with_attachments(
            &alice,
            "hello @everyone",
            &["https://cdn.example/a/photo.png"],
        )
        .await;
    let dm = fake.dm_channel_of(&alice.id).unwrap();
    let echo = fake
        .wait_bot_messages_in(&dm, 1, WAIT)
        .await
        .unwrap()
        .remove(0);
    assert_eq!(
        echo.content,
        "echo: hello @everyone [https://cdn.example/a/photo.png]"
    );
    let mentions = echo
        .allowed_mentions
        .clone()
        .expect("allowed_mentions sent");
    assert_eq!(mentions["parse"], json!([]), "{mentions}");
    assert_eq!(echo.button_labels(), vec!["OK", "Slow"]);
    assert!(sf(&echo.id) > sf(&m1), "snowflakes increase");
    // The bot's own message came back as MESSAGE_CREATE (and was ignored: one echo only).
    fake.wait_until(WAIT, |f| {
        f.dispatches()
            .iter()
            .any(|d| d.t == "MESSAGE_CREATE" && d.d["id"] == echo.id.as_str())
    })
    .await
    .unwrap();
    // The same MESSAGE_CREATE again (this plain handler does not deduplicate: two echoes).
    assert!(fake.redeliver(&m1).await);
    fake.wait_bot_messages_in(&dm, 2, WAIT).await.unwrap();

    // A click reaches interaction_create; the deferred update is recorded within 3 s, the second
    // response is refused, the ephemeral follow-up is stored.
    let click = fake.click_label(&echo.id, "OK", &alice).await;
    let responses = fake.wait_interaction_response(&click, WAIT).await.unwrap();
    assert_eq!(responses[0].kind, 6);
    assert_eq!(responses[0].status, 204);
    assert!(responses[0].elapsed < Duration::from_secs(3));
    let followup = fake
        .wait_for(WAIT, |f| f.followups(&click).into_iter().next())
        .await
        .unwrap();
    assert_eq!(followup.content, "clicked smoke-ok");
    assert_eq!(followup.flags & EPHEMERAL, EPHEMERAL);
    let responses = fake.interaction_responses(&click);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[1].status, 400);
    assert_eq!(
        seen.lock().unwrap().clicks[0],
        ("smoke-ok".to_string(), None, alice.id.clone()),
        "a DM click carries user, no member"
    );

    // Answering after 3 s fails with 10062.
    let slow = fake.click_label(&echo.id, "Slow", &alice).await;

    // A guild message in the support channel: thread from it, a message in the thread, and the
    // second thread on the same message refused.
    let agent = FakeUser::agent("carol");
    let post = fake.post(SUPPORT_CHANNEL_ID, &agent, "help please").await;
    let thread = fake.wait_for(WAIT, |f| f.thread_of(&post)).await.unwrap();
    assert_eq!(thread.kind, 11);
    assert_eq!(thread.parent_id.as_deref(), Some(SUPPORT_CHANNEL_ID));
    let in_thread = fake
        .wait_bot_messages_in(&thread.id, 1, WAIT)
        .await
        .unwrap();
    assert!(in_thread[0].content.contains(AGENT_ROLE_ID));

    // A click in a guild thread carries member{roles}; defer (ephemeral) then edit @original.
    let claim = fake.click_label(&in_thread[0].id, "Claim", &agent).await;
    let original = fake
        .wait_for(WAIT, |f| f.followups(&claim).into_iter().next())
        .await
        .unwrap();
    assert_eq!(original.content, "claimed by carol");
    assert!(original.is_ephemeral());
    assert_eq!(fake.interaction_responses(&claim)[0].kind, 5);
    let guild_click = seen.lock().unwrap().clicks.last().cloned().unwrap();
    assert!(guild_click.1.unwrap().contains(&AGENT_ROLE_ID.to_string()));

    fake.wait_until(WAIT, |_| seen.lock().unwrap().errors.len() == 3)
        .await
        .unwrap();
    let mut errors = seen.lock().unwrap().errors.clone();
    errors.sort();
    assert_eq!(errors, vec![(400, 40060), (400, 160004), (404, 10062)]);
    let slow = fake.interaction_responses(&slow);
    assert_eq!(slow.len(), 1);
    assert_eq!(slow[0].status, 404);
    assert!(slow[0].elapsed > Duration::from_secs(3));

    assert!(fake.unexpected_requests().is_empty(), "{}", fake.summary());
    shards.shutdown_all().await;
}

fn sf(id: &str) -> u64 {
    id.parse().unwrap()
}

/// op 9: serenity identifies again (after ~5 s); a DM stored meanwhile is fetched with
/// GET messages?after= and later DMs arrive live.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_session_reidentifies_and_missed_dm_is_fetched() {
    let fake = FakeDiscord::start().await;
    let (seen, shards) = client(&fake).await;
    fake.wait_ready(1).await.unwrap();
    let alice = FakeUser::customer("alice");
    let m1 = fake.dm(&alice, "first").await;
    let dm = fake.dm_channel_of(&alice.id).unwrap();
    fake.wait_bot_messages_in(&dm, 1, WAIT).await.unwrap();

    fake.invalidate_session().await;
    assert!(!fake.is_connected());
    let missed = fake.dm(&alice, "while away").await;
    assert!(
        !fake
            .dispatches()
            .iter()
            .any(|d| d.d["id"] == missed.as_str()),
        "stored, not dispatched"
    );
    fake.wait_ready(2).await.unwrap();
    assert_eq!(fake.identify_count(), 2);
    let echoes = fake.wait_bot_messages_in(&dm, 2, WAIT).await.unwrap();
    assert_eq!(echoes[1].content, "echo: while away");
    let fetch = fake.requests_to("GET", "/channels/*/messages");
    assert!(
        fetch.iter().any(|r| r
            .query
            .as_deref()
            .unwrap_or("")
            .contains(&format!("after={m1}"))),
        "{}",
        fake.summary()
    );

    fake.dm(&alice, "back").await;
    let echoes = fake.wait_bot_messages_in(&dm, 3, WAIT).await.unwrap();
    assert_eq!(echoes[2].content, "echo: back");
    assert_eq!(seen.lock().unwrap().readies, 2);
    shards.shutdown_all().await;
}

/// A reset connection: serenity resumes (RESUMED, no new IDENTIFY); with resumes rejected it
/// gets op 9 and identifies again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_connection_resumes_or_reidentifies() {
    let fake = FakeDiscord::start().await;
    let (_seen, shards) = client(&fake).await;
    fake.wait_ready(1).await.unwrap();
    let alice = FakeUser::customer("alice");
    fake.dm(&alice, "one").await;
    let dm = fake.dm_channel_of(&alice.id).unwrap();
    fake.wait_bot_messages_in(&dm, 1, WAIT).await.unwrap();

    fake.drop_connection().await;
    fake.dm(&alice, "during the drop").await;
    fake.wait_until(WAIT, |f| f.resumed_count() == 1 && f.is_connected())
        .await
        .unwrap();
    assert_eq!(fake.identify_count(), 1);
    // The resume handler catches up over REST; live messages flow again.
    let echoes = fake.wait_bot_messages_in(&dm, 2, WAIT).await.unwrap();
    assert_eq!(echoes[1].content, "echo: during the drop");
    fake.dm(&alice, "three").await;
    fake.wait_bot_messages_in(&dm, 3, WAIT).await.unwrap();

    // op 7 and a resumable close frame: both resumed.
    fake.request_reconnect().await;
    fake.wait_until(WAIT, |f| f.resumed_count() == 2 && f.is_connected())
        .await
        .unwrap();
    fake.close_connection(4000).await;
    fake.wait_until(WAIT, |f| f.resumed_count() == 3 && f.is_connected())
        .await
        .unwrap();
    assert_eq!(fake.identify_count(), 1);

    fake.set_resume(ResumeMode::Reject);
    fake.drop_connection().await;
    fake.wait_ready(2).await.unwrap();
    assert_eq!(fake.identify_count(), 2);
    assert_eq!(fake.resume_count(), 4);
    fake.dm(&alice, "four").await;
    let echoes = fake.wait_bot_messages_in(&dm, 4, WAIT).await.unwrap();
    assert_eq!(echoes[3].content, "echo: four");
    shards.shutdown_all().await;
}

/// REST alone: injected 429, closed DMs, length limit, ordering of GET messages, members.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_errors_and_reads() {
    let fake = FakeDiscord::start().await;
    let http = http(&fake);
    let staff = ChannelId::new(sf(STAFF_CHANNEL_ID));

    // 429 reaches serenity as an error (ratelimiter disabled); the next call goes through.
    fake.rate_limit_next("POST", "/channels/*/messages", 0.1, 1)
        .await;
    let err = staff.say(&http, "hi").await.unwrap_err();
    assert_eq!(discord_error(&err).map(|e| e.0), Some(429), "{err:?}");
    let sent = staff.say(&http, "hi").await.unwrap();
    assert_eq!(fake.bot_messages_in(STAFF_CHANNEL_ID).len(), 1);
    let limited = fake.requests_to("POST", "/channels/*/messages");
    assert_eq!(limited.len(), 2);
    assert!(limited[0].injected && limited[0].status == 429);

    // Closed DMs: 403 / 50007.
    let bob = FakeUser::customer("bob");
    fake.add_user(&bob);
    fake.close_dms(&bob.id).await;
    let dm = UserId::new(sf(&bob.id))
        .create_dm_channel(&http)
        .await
        .unwrap();
    let err = dm.id.say(&http, "hello").await.unwrap_err();
    assert_eq!(discord_error(&err), Some((403, 50007)));

    // Over 2,000 characters: serenity refuses client-side; the fake also refuses (50035).
    let long = "x".repeat(2001);
    assert!(staff.say(&http, &long).await.is_err());
    let raw = reqwest::Client::new()
        .post(format!(
            "{}/api/v10/channels/{STAFF_CHANNEL_ID}/messages",
            fake.api_base()
        ))
        .header("Authorization", format!("Bot {TOKEN}"))
        .json(&json!({"content": long}))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["code"], 50035);

    // GET messages?after= answers newest first, without guild_id/member.
    let user = FakeUser::non_agent("dave");
    let a = fake.post(STAFF_CHANNEL_ID, &user, "a").await;
    let b = fake.post(STAFF_CHANNEL_ID, &user, "b").await;
    let c = fake.post(STAFF_CHANNEL_ID, &user, "c").await;
    let got = staff
        .messages(
            &http,
            GetMessages::new().after(MessageId::new(sf(&a))).limit(10),
        )
        .await
        .unwrap();
    let ids: Vec<String> = got.iter().map(|m| m.id.to_string()).collect();
    assert_eq!(ids, vec![c.clone(), b.clone()]);
    assert!(got
        .iter()
        .all(|m| m.member.is_none() && m.guild_id.is_none()));
    assert!(sf(&sent.id.to_string()) < sf(&a));

    // Members carry roles.
    let member = GuildId::new(sf(GUILD_ID))
        .member(&http, UserId::new(sf(&user.id)))
        .await
        .unwrap();
    assert_eq!(member.roles.len(), 1);

    // Edits are recorded.
    staff
        .edit_message(
            &http,
            sent.id,
            serenity::all::EditMessage::new().content("edited"),
        )
        .await
        .unwrap();
    let stored = fake.message(&sent.id.to_string()).unwrap();
    assert_eq!(stored.content, "edited");
    assert_eq!(stored.edits.len(), 1);

    // Channels: guild text, DM, a private thread made without a message.
    assert!(matches!(
        staff.to_channel(&http).await.unwrap(),
        Channel::Guild(_)
    ));
    assert!(matches!(
        dm.id.to_channel(&http).await.unwrap(),
        Channel::Private(_)
    ));
    let private = staff
        .create_thread(
            &http,
            CreateThread::new("private").kind(ChannelType::PrivateThread),
        )
        .await
        .unwrap();
    assert_eq!(private.kind, ChannelType::PrivateThread);
    assert_eq!(fake.channel(&private.id.to_string()).unwrap().kind, 12);
    private
        .id
        .add_thread_member(&http, UserId::new(sf(&user.id)))
        .await
        .unwrap();
    assert_eq!(
        fake.channel(&private.id.to_string()).unwrap().members,
        vec![user.id.clone()]
    );
    staff.broadcast_typing(&http).await.unwrap();
    assert_eq!(
        http.get_user(UserId::new(sf(&bob.id))).await.unwrap().name,
        "bob"
    );
    assert_eq!(
        http.get_current_application_info()
            .await
            .unwrap()
            .id
            .to_string(),
        common::fake_discord::APPLICATION_ID
    );

    // An upload (multipart): the payload_json is read, the file listed as an attachment.
    let upload = staff
        .send_message(
            &http,
            CreateMessage::new()
                .content("transcript")
                .add_file(CreateAttachment::bytes(b"hello".to_vec(), "notes.txt")),
        )
        .await
        .unwrap();
    assert_eq!(upload.attachments[0].filename, "notes.txt");
    let stored = fake.message(&upload.id.to_string()).unwrap();
    assert_eq!(stored.content, "transcript");
    assert!(stored.attachments[0].ends_with("/notes.txt"));

    // Unknown routes are 404 and listed.
    assert!(http.get_guild(GuildId::new(sf(GUILD_ID))).await.is_err());
    assert_eq!(fake.unexpected_requests().len(), 1);

    // A wrong token is refused.
    let wrong = HttpBuilder::new("wrong")
        .proxy(fake.api_base())
        .ratelimiter_disabled(true)
        .build();
    assert_eq!(
        discord_error(&staff.say(&wrong, "x").await.unwrap_err()).map(|e| e.0),
        Some(401)
    );
}

/// Without MESSAGE_CONTENT, guild messages arrive with empty content (DMs and mentions keep it),
/// as on Discord.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_needs_the_message_content_intent() {
    let fake = FakeDiscord::start().await;
    let intents = INTENTS.difference(GatewayIntents::MESSAGE_CONTENT);
    let (_seen, shards) = client_with(&fake, intents).await;
    fake.wait_ready(1).await.unwrap();
    let user = FakeUser::non_agent("erin");
    let plain = fake.post(STAFF_CHANNEL_ID, &user, "secret").await;
    let mention = fake
        .post(
            STAFF_CHANNEL_ID,
            &user,
            &format!("<@{}> hi", common::fake_discord::BOT_ID),
        )
        .await;
    let dm = fake.dm(&user, "in a dm").await;
    let content = |id: &str| {
        fake.dispatches()
            .into_iter()
            .find(|d| d.t == "MESSAGE_CREATE" && d.d["id"] == id)
            .map(|d| d.d["content"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(content(&plain).as_deref(), Some(""));
    assert!(content(&mention).unwrap().ends_with(" hi"));
    assert_eq!(content(&dm).as_deref(), Some("in a dm"));
    // The stored message keeps its content for REST.
    assert_eq!(fake.message(&plain).unwrap().content, "secret");
    shards.shutdown_all().await;
}
