//! Configuration: built-in defaults, then a TOML file, then `FRONTLINE__SECTION__KEY` environment
//! variables, then `DATABASE_URL`. Every key is documented in `config/default.toml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::core::template::Vars;
use crate::intents::MatcherSettings;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Invalid {
        path: String,
        line: usize,
        message: String,
    },
    #[error("environment variable {var}: {message}")]
    Env { var: String, message: String },
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub intents: IntentsConfig,
    pub matcher: MatcherSettings,
    pub conversation: ConversationConfig,
    pub support_hours: SupportHours,
    pub queue: QueueConfig,
    pub outbox: OutboxConfig,
    pub templates: Templates,
    /// Values for `{{name}}` in answers and templates; nested tables give dotted names.
    pub vars: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub bind: String,
    /// The address customers and agents use, for the links logged at start; empty = from `bind`.
    pub public_url: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".into(),
            public_url: String::new(),
        }
    }
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    pub url: String,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: "sqlite:data/frontline.db".into(),
        }
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &redact_url(&self.url))
            .finish()
    }
}

/// Hides the password in a database URL, for logs: in the user part (`user:secret@host`) and in
/// a `password=` query parameter.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = match (base.find("://"), base.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &base[scheme + 3..at];
            match userinfo.find(':') {
                Some(colon) => format!(
                    "{}{}:***{}",
                    &base[..scheme + 3],
                    &userinfo[..colon],
                    &base[at..]
                ),
                None => base.to_string(),
            }
        }
        _ => base.to_string(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|p| match p.split_once('=') {
                Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                _ => p.to_string(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IntentsConfig {
    pub dir: PathBuf,
    /// Reload the intents when files change.
    pub watch: bool,
    pub poll_ms: u64,
}

impl Default for IntentsConfig {
    fn default() -> Self {
        Self {
            dir: "intents".into(),
            watch: true,
            poll_ms: 1000,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConversationConfig {
    /// Misses in a row before the bot hands over (the first gets a rephrase prompt).
    pub max_misses: i32,
    /// After an agent closes a ticket, a message within this many seconds reopens it.
    pub reopen_window_secs: i64,
    /// Intents that are polite closers: they never reopen a closed ticket.
    pub closing_intents: Vec<String>,
    /// Intents that mean "let me talk to a person".
    pub human_intents: Vec<String>,
    /// Show "a support agent" instead of agents' names to customers.
    pub anonymous_agents: bool,
    /// Hand over early when a customer repeats themselves, shouts or swears.
    pub escalate_on_frustration: bool,
}

impl Default for ConversationConfig {
    fn default() -> Self {
        Self {
            max_misses: 2,
            reopen_window_secs: 48 * 3600,
            closing_intents: vec!["thanks".into(), "goodbye".into()],
            human_intents: vec!["human".into()],
            anonymous_agents: false,
            escalate_on_frustration: true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SupportHours {
    /// Offset of the team's local time from UTC, in minutes (e.g. 60 for UTC+01:00).
    pub utc_offset_minutes: i32,
    /// Days agents work, as "mon".."sun"; empty means always staffed.
    pub days: Vec<String>,
    /// Opening and closing time on those days, "HH:MM" local time.
    pub open: String,
    pub close: String,
}

impl Default for SupportHours {
    fn default() -> Self {
        Self {
            utc_offset_minutes: 0,
            days: Vec::new(),
            open: "09:00".into(),
            close: "17:00".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueueConfig {
    /// Expected wait announced before any ticket has been claimed, in minutes.
    pub default_wait_minutes: i64,
    /// How many recent claims the expected wait is estimated from.
    pub wait_sample: i64,
    /// Tell customers still waiting where they stand every this many minutes (0 = never).
    pub update_minutes: i64,
    /// Service target: a ticket should be claimed within this many support-hours minutes of
    /// being opened (0 = no target). The console flags tickets near or past it.
    pub claim_target_minutes: i64,
}

impl Default for QueueConfig {
    fn default() -> Self {
        Self {
            default_wait_minutes: 10,
            wait_sample: 20,
            update_minutes: 10,
            claim_target_minutes: 15,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct OutboxConfig {
    /// Attempts before a transiently failing message becomes a dead letter.
    pub max_attempts: i32,
    pub backoff_base_ms: i64,
    pub backoff_max_ms: i64,
    /// How often the dispatcher and timers look for due work when nothing woke them.
    pub poll_ms: u64,
}

impl Default for OutboxConfig {
    fn default() -> Self {
        Self {
            max_attempts: 10,
            backoff_base_ms: 500,
            backoff_max_ms: 5 * 60_000,
            poll_ms: 500,
        }
    }
}

/// Every sentence the bot writes on its own, as `{{name}}` templates.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Templates {
    pub disclosure: String,
    pub rephrase: String,
    pub clarify: String,
    pub escalated: String,
    pub escalated_after_hours: String,
    pub agent_joined: String,
    pub resolved: String,
    pub csat_thanks: String,
    pub reopened: String,
    pub agent_left: String,
    pub related: String,
    pub queue_update: String,
}

impl Default for Templates {
    fn default() -> Self {
        Self {
            disclosure: "Hi! I'm the automated assistant of {{shop.name}}. I answer common questions right away, and a person from our team is one message away: just say \"talk to a person\".".into(),
            rephrase: "Sorry, I'm not sure I understood. Could you say it another way? If you'd rather talk to a person, just say so.".into(),
            clarify: "I want to get this right. Did you mean:\n{{options}}\nReply with the number or the name.".into(),
            escalated: "I've passed this to our support team as ticket #{{ticket}}. A person takes over from here and I'll step back. You are number {{position}} in the queue; the expected wait is {{wait}}. They can read this whole conversation, so there's no need to repeat anything.".into(),
            escalated_after_hours: "I've passed this to our support team as ticket #{{ticket}}. A person takes over from here and I'll step back. Our team works {{hours}}, so they'll be with you when they're back ({{back}}); you are number {{position}} in the queue. They can read this whole conversation, so there's no need to repeat anything.".into(),
            agent_joined: "{{agent}} has joined the conversation and will help you from here.".into(),
            resolved: "Ticket #{{ticket}} is now closed. Thank you for reaching out to us! How did we do? Reply with a number from 1 (poor) to 5 (excellent).".into(),
            csat_thanks: "Thank you for your rating, it helps us improve.".into(),
            reopened: "I've reopened ticket #{{ticket}} and let {{agent}} know; they'll reply here.".into(),
            agent_left: "{{agent}} is no longer available, so ticket #{{ticket}} is back in the queue: you are number {{position}}. The next person to pick it up sees this whole conversation, so there's no need to repeat anything.".into(),
            related: "You can also ask about: {{options}}.".into(),
            queue_update: "Thanks for waiting. Ticket #{{ticket}} is now number {{position}} in the queue; the expected wait is {{wait}}.".into(),
        }
    }
}

impl Config {
    /// Loads `path` (or only the defaults when `path` is `None`), then applies the environment.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(path, &env)
    }

    /// [`Config::load`] with the environment given, for tests.
    pub fn load_with_env(
        path: Option<&Path>,
        env: &[(String, String)],
    ) -> Result<Self, ConfigError> {
        let mut table = match path {
            Some(path) => {
                let name = path.display().to_string();
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: name.clone(),
                    source,
                })?;
                // Deserialising the file on its own first gives errors with the file's line numbers.
                toml::from_str::<Config>(&text).map_err(|e| invalid(&name, &text, &e))?;
                text.parse::<toml::Table>()
                    .map_err(|e| invalid(&name, &text, &e))?
            }
            None => toml::Table::new(),
        };
        let mut env_keys = Vec::new();
        for (var, value) in env {
            if let Some(rest) = var.strip_prefix("FRONTLINE__") {
                let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
                set_path(&mut table, &path, parse_env_value(value)).map_err(|message| {
                    ConfigError::Env {
                        var: var.clone(),
                        message,
                    }
                })?;
                env_keys.push(var.clone());
            }
        }
        if let Some((_, url)) = env.iter().find(|(k, _)| k == "DATABASE_URL") {
            let db = table
                .entry("database")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(db) = db {
                db.insert("url".into(), toml::Value::String(url.clone()));
            }
        }
        Config::deserialize(toml::Value::Table(table)).map_err(|e| ConfigError::Env {
            var: if env_keys.is_empty() {
                "DATABASE_URL".into()
            } else {
                env_keys.join(", ")
            },
            message: e.message().to_string(),
        })
    }

    /// `[vars]` flattened to dotted names (`[vars.links] orders = ".."` → `links.orders`).
    pub fn vars(&self) -> Vars {
        let mut out = BTreeMap::new();
        flatten("", &self.vars, &mut out);
        out
    }

    /// The variable names answers may use: `[vars]` plus what each conversation provides.
    pub fn known_vars(&self) -> std::collections::BTreeSet<String> {
        let mut names: std::collections::BTreeSet<String> = self.vars().into_keys().collect();
        names.insert("customer.name".into());
        names
    }
}

fn flatten(prefix: &str, table: &toml::Table, out: &mut Vars) {
    for (key, value) in table {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => flatten(&name, inner, out),
            toml::Value::String(s) => {
                out.insert(name, s.clone());
            }
            other => {
                out.insert(name, other.to_string());
            }
        }
    }
}

fn invalid(path: &str, text: &str, e: &toml::de::Error) -> ConfigError {
    let line = e
        .span()
        .map(|span| text[..span.start.min(text.len())].lines().count().max(1))
        .unwrap_or(1);
    let line = match e.span() {
        Some(span) if text[..span.start.min(text.len())].ends_with('\n') => line + 1,
        _ => line,
    };
    ConfigError::Invalid {
        path: path.into(),
        line,
        message: e.message().to_string(),
    }
}

/// An environment value is read as a TOML value when it parses as one (`8080`, `true`,
/// `["a","b"]`), and as a plain string otherwise.
fn parse_env_value(raw: &str) -> toml::Value {
    format!("v = {raw}")
        .parse::<toml::Table>()
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()))
}

fn set_path(table: &mut toml::Table, path: &[String], value: toml::Value) -> Result<(), String> {
    match path {
        [] => Err("names no key".into()),
        [key] => {
            table.insert(key.clone(), value);
            Ok(())
        }
        [key, rest @ ..] => {
            let entry = table
                .entry(key.clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            match entry {
                toml::Value::Table(inner) => set_path(inner, rest, value),
                _ => Err(format!("'{key}' is not a section")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> tempfile_path::TempPath {
        tempfile_path::TempPath::new(text)
    }

    /// A tiny temp-file helper so config tests need no extra crate.
    mod tempfile_path {
        pub struct TempPath(pub std::path::PathBuf);
        impl TempPath {
            pub fn new(text: &str) -> Self {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let path = std::env::temp_dir()
                    .join(format!("frontline-config-{}-{n}.toml", std::process::id()));
                std::fs::write(&path, text).unwrap();
                Self(path)
            }
        }
        impl Drop for TempPath {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }

    #[test]
    fn database_passwords_never_reach_the_logs() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/frontline"),
            "postgres://app:***@db:5432/frontline"
        );
        assert_eq!(
            redact_url("postgres://db/frontline?user=app&password=s3cret&sslmode=require"),
            "postgres://db/frontline?user=app&password=***&sslmode=require"
        );
        assert_eq!(
            redact_url("sqlite:data/frontline.db"),
            "sqlite:data/frontline.db"
        );
    }

    #[test]
    fn the_shipped_default_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml");
        let config = Config::load_with_env(Some(&path), &[]).expect("config/default.toml loads");
        assert_eq!(config.http.bind, "127.0.0.1:8080");
        assert_eq!(config.database.url, "sqlite:data/frontline.db");
        assert!(config.vars().contains_key("shop.name"));
        // The file documents the built-in defaults; they must not drift apart.
        let t = (&config.templates, &Templates::default());
        assert_eq!(format!("{:?}", t.0), format!("{:?}", t.1));
        assert_eq!(
            config.conversation.reopen_window_secs,
            ConversationConfig::default().reopen_window_secs
        );
        assert_eq!(
            format!("{:?}", config.outbox),
            format!("{:?}", OutboxConfig::default())
        );
    }

    #[test]
    fn unknown_keys_name_the_file_and_line() {
        let file = write("[http]\nbind = \"127.0.0.1:1\"\nbnid = \"oops\"\n");
        let err = Config::load_with_env(Some(&file.0), &[])
            .unwrap_err()
            .to_string();
        assert!(err.contains(":3:"), "{err}");
        assert!(err.contains("bnid"), "{err}");
    }

    #[test]
    fn environment_overrides_the_file_and_database_url_wins() {
        let file = write("[http]\nbind = \"127.0.0.1:1\"\n[conversation]\nmax_misses = 3\n");
        let env = vec![
            (
                "FRONTLINE__HTTP__BIND".to_string(),
                "0.0.0.0:9000".to_string(),
            ),
            (
                "FRONTLINE__CONVERSATION__MAX_MISSES".to_string(),
                "4".to_string(),
            ),
            (
                "DATABASE_URL".to_string(),
                "postgres://u:secret@h/db".to_string(),
            ),
        ];
        let config = Config::load_with_env(Some(&file.0), &env).unwrap();
        assert_eq!(config.http.bind, "0.0.0.0:9000");
        assert_eq!(config.conversation.max_misses, 4);
        assert_eq!(config.database.url, "postgres://u:secret@h/db");
        assert!(!format!("{config:?}").contains("secret"));
    }

    #[test]
    fn a_bad_environment_value_names_the_variable() {
        let env = vec![(
            "FRONTLINE__CONVERSATION__MAX_MISSES".to_string(),
            "many".to_string(),
        )];
        let err = Config::load_with_env(None, &env).unwrap_err().to_string();
        assert!(err.contains("FRONTLINE__CONVERSATION__MAX_MISSES"), "{err}");
    }

    #[test]
    fn vars_flatten_to_dotted_names() {
        let file = write("[vars]\nphone = \"1\"\n[vars.links]\norders = \"https://x\"\n");
        let config = Config::load_with_env(Some(&file.0), &[]).unwrap();
        let vars = config.vars();
        assert_eq!(vars["links.orders"], "https://x");
        assert_eq!(vars["phone"], "1");
        assert!(config.known_vars().contains("customer.name"));
    }
}
