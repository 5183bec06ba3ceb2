//! Load generator for the web chat: drives the real HTTP API from many chat sessions and prints
//! what the bot sustained.
//!
//! ```sh
//! cargo run --release --example load                      # flood: as fast as 32 sessions can go
//! cargo run --release --example load -- --rate 1000       # 1,000 messages/s, reply latency
//! cargo run --release --example load -- --conversations 10000 --seconds 0   # memory with 10k chats
//! cargo run --release --example load -- --database-url postgres://postgres@127.0.0.1:5432/test
//! ```
//!
//! Without `--url` it starts `frontline run` itself (the release binary beside this example) on a
//! fresh database with the shipped intents and the per-session limits lifted, so it can also read
//! the server's peak resident memory. `--instances 2` starts two on the same (PostgreSQL) database,
//! each pinned to its own core with `taskset`, and spreads the sessions over them. A PostgreSQL run
//! works in a schema of its own (`load_<pid>`), dropped at the end.
//!
//! Printed: accepted/s (POSTs answered 202), handled/s (customer messages whose reply is readable
//! through the chat API, checked by reading every conversation back at the end, which also counts
//! lost and doubled messages), reply latency p50/p99 (from when a message was due to be sent to
//! when its reply was read), and the server's peak RSS.

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::{json, Value};

const QUESTIONS: &[&str] = &[
    "where is my order",
    "how much is shipping",
    "can I return this jacket",
    "do you take paypal",
    "how do I reset my password",
    "what are your opening hours",
];

#[derive(Debug, Clone)]
struct Args {
    url: Option<String>,
    pid: Option<u32>,
    sessions: usize,
    seconds: f64,
    rate: f64,
    conversations: usize,
    database_url: Option<String>,
    instances: usize,
}

fn parse_args() -> Result<Args> {
    let mut args = Args {
        url: None,
        pid: None,
        sessions: 32,
        seconds: 10.0,
        rate: 0.0,
        conversations: 0,
        database_url: None,
        instances: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().with_context(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--url" => args.url = Some(value()?),
            "--pid" => args.pid = Some(value()?.parse()?),
            "--sessions" => args.sessions = value()?.parse()?,
            "--seconds" => args.seconds = value()?.parse()?,
            "--rate" => args.rate = value()?.parse()?,
            "--conversations" => args.conversations = value()?.parse()?,
            "--database-url" => args.database_url = Some(value()?),
            "--instances" => args.instances = value()?.parse()?,
            "-h" | "--help" => {
                println!(
                    "load [--url URL [--pid PID]] [--sessions N] [--seconds S] [--rate MSGS_PER_S] \
                     [--conversations N] [--database-url URL] [--instances N]"
                );
                std::process::exit(0);
            }
            other => bail!("unknown argument {other} (try --help)"),
        }
    }
    if args.sessions == 0 {
        bail!("--sessions must be at least 1");
    }
    if args.instances > 1 && args.url.is_some() {
        bail!("--instances starts servers itself: leave out --url");
    }
    Ok(args)
}

/// A `frontline run` this tool started; killed when dropped.
struct Server {
    child: Child,
    url: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn start_server(database_url: &str, core: Option<usize>) -> Result<Server> {
    let exe = std::env::current_exe()?;
    let binary = exe
        .parent()
        .and_then(|examples| examples.parent())
        .map(|dir| dir.join("frontline"))
        .context("cannot find the target folder")?;
    if !binary.exists() {
        bail!(
            "{} is missing: run `cargo build --release` first",
            binary.display()
        );
    }
    let port = free_port()?;
    let mut command = match core {
        Some(core) => {
            let mut c = Command::new("taskset");
            c.arg("-c").arg(core.to_string()).arg(&binary);
            c
        }
        None => Command::new(&binary),
    };
    command
        .arg("run")
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("DATABASE_URL", database_url)
        .env("FRONTLINE__HTTP__BIND", format!("127.0.0.1:{port}"))
        .env("FRONTLINE__HTTP__MESSAGES_PER_MINUTE_PER_SESSION", "0")
        .env("FRONTLINE__HTTP__SESSIONS_PER_MINUTE_PER_IP", "0")
        .env("FRONTLINE__INTENTS__WATCH", "false")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    let child = command.spawn().context("starting frontline")?;
    Ok(Server {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

async fn wait_ready(client: &reqwest::Client, server: &mut Server) -> Result<()> {
    for _ in 0..600 {
        if let Some(status) = server.child.try_wait()? {
            bail!("frontline exited before it was ready ({status}); its log is above");
        }
        if let Ok(r) = client.get(format!("{}/readyz", server.url)).send().await {
            if r.status().is_success() {
                return Ok(());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bail!("{} did not become ready in 30 s", server.url)
}

/// The peak resident memory (VmHWM) of a process, in MB.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn current_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

#[derive(Clone)]
struct Session {
    base: String,
    id: String,
    token: String,
}

impl Session {
    async fn open(client: &reqwest::Client, base: &str) -> Result<Session> {
        let r = client
            .post(format!("{base}/api/chat/sessions"))
            .json(&json!({}))
            .send()
            .await?;
        if r.status() != 201 {
            bail!("new session: HTTP {}", r.status());
        }
        let v: Value = r.json().await?;
        Ok(Session {
            base: base.to_string(),
            id: v["session_id"].as_str().context("session_id")?.into(),
            token: v["token"].as_str().context("token")?.into(),
        })
    }

    async fn post(&self, client: &reqwest::Client, text: &str) -> Result<()> {
        let r = client
            .post(format!(
                "{}/api/chat/sessions/{}/messages",
                self.base, self.id
            ))
            .bearer_auth(&self.token)
            .json(&json!({ "text": text }))
            .send()
            .await?;
        if r.status() != 202 {
            bail!(
                "post: HTTP {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    async fn lines(&self, client: &reqwest::Client, after: i64, wait: u64) -> Result<Vec<Value>> {
        let r = client
            .get(format!(
                "{}/api/chat/sessions/{}/messages?after={after}&wait={wait}",
                self.base, self.id
            ))
            .bearer_auth(&self.token)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!("poll: HTTP {}", r.status());
        }
        let v: Value = r.json().await?;
        Ok(v["messages"].as_array().cloned().unwrap_or_default())
    }
}

fn seq(line: &Value) -> i64 {
    line["seq"].as_i64().unwrap_or(0)
}

#[derive(Default)]
struct Tally {
    accepted: AtomicU64,
    errors: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

/// How many messages a chat session sends before the driver moves on to a new one: real chats
/// are short, and a customer asking the same question twice is handed to a person.
const MESSAGES_PER_SESSION: usize = 5;

/// One driver's part of the run: sends until `end`, either back to back (flood) or on a fixed
/// schedule of `interval` (then it waits for each reply, to time it), opening a new chat session
/// every few messages. Returns the sessions it used and how many messages each accepted.
async fn drive(
    client: reqwest::Client,
    base: String,
    tally: Arc<Tally>,
    start: Instant,
    end: Instant,
    interval: Option<Duration>,
    offset: Duration,
) -> Result<Vec<(Session, u64)>> {
    let mut used: Vec<(Session, u64)> = Vec::new();
    // The newest line seen in the current session, so a reply is told from what came before.
    let mut last_seq = 0;
    let mut next = start + offset;
    loop {
        let over = match interval {
            Some(_) => next >= end,
            None => Instant::now() >= end,
        };
        if over {
            break;
        }
        // Before the message is due: a visitor opens the chat, then writes in it, so opening
        // is no part of a reply's latency.
        if used
            .last()
            .is_none_or(|(_, n)| *n as usize >= MESSAGES_PER_SESSION)
        {
            used.push((Session::open(&client, &base).await?, 0));
            last_seq = 0;
        }
        let due = match interval {
            Some(interval) => {
                tokio::time::sleep_until(next.into()).await;
                next += interval;
                next - interval
            }
            None => Instant::now(),
        };
        let (session, sent) = used.last_mut().expect("a session");
        let text = QUESTIONS[*sent as usize % QUESTIONS.len()];
        match session.post(&client, text).await {
            Ok(()) => {
                *sent += 1;
                tally.accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                if tally.errors.fetch_add(1, Ordering::Relaxed) < 5 {
                    eprintln!("{e:#}");
                }
                continue;
            }
        }
        if interval.is_some() {
            // The reply: a bot line after everything there was before the message.
            loop {
                let lines = session.lines(&client, last_seq, 5).await?;
                last_seq = lines.iter().map(seq).max().unwrap_or(last_seq);
                if lines.iter().any(|l| l["from"] == "bot") {
                    let us = due.elapsed().as_micros() as u64;
                    tally.latencies_us.lock().unwrap().push(us);
                    break;
                }
                if due.elapsed() > Duration::from_secs(30) {
                    eprintln!("no reply within 30 s in session {}", session.id);
                    break;
                }
            }
        }
    }
    Ok(used)
}

/// Reads a conversation back: (customer lines, customer lines followed by an answer).
async fn check(client: &reqwest::Client, session: &Session) -> Result<(u64, u64)> {
    let lines = session.lines(client, 0, 0).await?;
    let mut customer = 0;
    let mut answered = 0;
    let mut waiting = false;
    for line in &lines {
        if line["from"] == "customer" {
            customer += 1;
            waiting = true;
        } else if waiting && line["from"] == "bot" {
            answered += 1;
            waiting = false;
        }
    }
    Ok((customer, answered))
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut args = parse_args()?;
    let schema = match &args.database_url {
        Some(url) if args.url.is_none() && url.starts_with("postgres") => {
            let (scoped, schema) = own_schema(url).await?;
            args.database_url = Some(scoped);
            Some(schema)
        }
        _ => None,
    };
    let result = run(&args).await;
    if let (Some(url), Some(schema)) = (&args.database_url, schema) {
        drop_schema(url, &schema).await?;
    }
    result
}

async fn run(args: &Args) -> Result<()> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.sessions.max(64))
        .timeout(Duration::from_secs(60))
        .build()?;

    let scratch = std::env::temp_dir().join(format!("frontline-load-{}", std::process::id()));
    let mut servers = Vec::new();
    let (bases, pids): (Vec<String>, Vec<u32>) = match &args.url {
        Some(url) => (
            vec![url.trim_end_matches('/').to_string()],
            args.pid.into_iter().collect(),
        ),
        None => {
            let database_url = match &args.database_url {
                Some(url) => url.clone(),
                None => {
                    std::fs::create_dir_all(&scratch)?;
                    format!("sqlite:{}/load.db", scratch.display())
                }
            };
            for i in 0..args.instances {
                let core = (args.instances > 1).then_some(i);
                servers.push(start_server(&database_url, core)?);
            }
            for server in &mut servers {
                wait_ready(&client, server).await?;
            }
            (
                servers.iter().map(|s| s.url.clone()).collect(),
                servers.iter().map(|s| s.child.id()).collect(),
            )
        }
    };

    // Open conversations first (--conversations), e.g. to see memory with many chats open.
    if args.conversations > 0 {
        let started = Instant::now();
        let made = Arc::new(AtomicU64::new(0));
        let mut tasks = Vec::new();
        let per_task = args.conversations.div_ceil(args.sessions);
        for t in 0..args.sessions {
            let (client, base, made) =
                (client.clone(), bases[t % bases.len()].clone(), made.clone());
            let count = per_task.min(args.conversations.saturating_sub(t * per_task));
            tasks.push(tokio::spawn(async move {
                for i in 0..count {
                    let s = Session::open(&client, &base).await?;
                    // One in four asks for a person, so the set holds escalated ones too.
                    let text = if (t + i) % 4 == 0 {
                        "I want to talk to a person"
                    } else {
                        QUESTIONS[i % QUESTIONS.len()]
                    };
                    s.post(&client, text).await?;
                    made.fetch_add(1, Ordering::Relaxed);
                }
                anyhow::Ok(())
            }));
        }
        for t in tasks {
            t.await??;
        }
        let n = made.load(Ordering::Relaxed);
        println!(
            "opened {n} conversations in {:.1} s ({:.0}/s)",
            started.elapsed().as_secs_f64(),
            n as f64 / started.elapsed().as_secs_f64()
        );
        for pid in &pids {
            if let (Some(now), Some(peak)) = (current_rss_mb(*pid), peak_rss_mb(*pid)) {
                println!("server {pid}: RSS {now:.1} MB now, {peak:.1} MB peak");
            }
        }
    }

    if args.seconds > 0.0 {
        let tally = Arc::new(Tally::default());
        let start = Instant::now() + Duration::from_millis(100);
        let end = start + Duration::from_secs_f64(args.seconds);
        let interval =
            (args.rate > 0.0).then(|| Duration::from_secs_f64(args.sessions as f64 / args.rate));
        let mut tasks = Vec::new();
        for i in 0..args.sessions {
            let offset = interval.map_or(Duration::ZERO, |iv| {
                iv.mul_f64(i as f64 / args.sessions as f64)
            });
            tasks.push(tokio::spawn(drive(
                client.clone(),
                bases[i % bases.len()].clone(),
                tally.clone(),
                start,
                end,
                interval,
                offset,
            )));
        }
        let mut sessions = Vec::new();
        for t in tasks {
            sessions.extend(t.await??);
        }
        let elapsed = start.elapsed().as_secs_f64();
        let sent: u64 = sessions.iter().map(|(_, n)| n).sum();

        // Read every conversation back: the bot must have answered each message once. A message
        // still unanswered is looked at again; the time that takes counts toward handled/s.
        let mut customer_lines = 0;
        let mut answered = 0;
        let mut handled_elapsed = elapsed;
        for (session, _) in &sessions {
            loop {
                let (c, a) = check(&client, session).await?;
                if a >= c || start.elapsed().as_secs_f64() > elapsed + 60.0 {
                    customer_lines += c;
                    answered += a;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
                handled_elapsed = start.elapsed().as_secs_f64();
            }
        }
        let accepted = tally.accepted.load(Ordering::Relaxed);
        println!(
            "{} drivers, {} chat sessions, on {} instance(s), {:.1} s{}",
            args.sessions,
            sessions.len(),
            bases.len(),
            args.seconds,
            if args.rate > 0.0 {
                format!(", offered {:.0} messages/s", args.rate)
            } else {
                ", flood".to_string()
            }
        );
        println!(
            "accepted: {accepted} ({:.0}/s), errors: {}",
            accepted as f64 / elapsed,
            tally.errors.load(Ordering::Relaxed)
        );
        println!(
            "handled: {answered} ({:.0}/s); stored customer lines {customer_lines} for {sent} sent: {} lost, {} doubled",
            answered as f64 / handled_elapsed,
            sent.saturating_sub(customer_lines),
            customer_lines.saturating_sub(sent)
        );
        let mut lat = std::mem::take(&mut *tally.latencies_us.lock().unwrap());
        lat.sort_unstable();
        if !lat.is_empty() {
            println!(
                "reply latency: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {} replies",
                percentile(&lat, 0.5),
                percentile(&lat, 0.99),
                percentile(&lat, 1.0),
                lat.len()
            );
        }
        for pid in &pids {
            if let Some(peak) = peak_rss_mb(*pid) {
                println!("server {pid}: peak RSS {peak:.1} MB");
            }
        }
    }
    drop(servers);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// A PostgreSQL run works in a schema of its own, created and migrated here (so several
/// instances do not race to migrate it) and dropped at the end: runs start from empty tables
/// and leave nothing behind in the database's own schema. Returns the URL that selects it.
async fn own_schema(url: &str) -> Result<(String, String)> {
    let schema = format!("load_{}", std::process::id());
    frontline::store::postgres::PgStore::open(url, Some(&schema))
        .await
        .with_context(|| format!("creating schema {schema}"))?;
    let sep = if url.contains('?') { '&' } else { '?' };
    Ok((format!("{url}{sep}options[search_path]={schema}"), schema))
}

async fn drop_schema(url: &str, schema: &str) -> Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    // The name is ours (`load_<pid>`), so it needs no escaping.
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&mut conn)
        .await
        .with_context(|| format!("dropping schema {schema}"))?;
    Ok(())
}
