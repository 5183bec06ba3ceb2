//! Configuration: built-in defaults, then a TOML file, then `FRONTLINE__SECTION__KEY` environment
//! variables, then `DATABASE_URL`. Every key is documented in `config/default.toml`.
//!
//! An environment value is converted to the type of its key (read from the Rust types, see
//! [`KeyType`]): `FRONTLINE__DISCORD__STAFF_CHANNEL_ID=600000000000000002` stays a string,
//! `FRONTLINE__SLACK__AGENT_IDS=U1,U2` is a list. Platform tokens never come from the file: they
//! are read from their own variables (`DISCORD_TOKEN`, `SLACK_BOT_TOKEN`, ...) into [`Secret`]s.
//!
//! # Layout
//! - this file: [`Config`], loading and layering the sources, and the checks across sections.
//! - `sections.rs`: one type per `[section]` with its defaults, and [`Secret`] for tokens.
//! - `env.rs`: the type of every key ([`schema`]) and environment values converted to it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::core::template::Vars;
use crate::intents::MatcherSettings;

mod env;
mod sections;

use env::{env_override, set_path};
pub use env::{schema, KeyType};
pub use sections::*;

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
    /// Values that parse but cannot work together (a platform without its token, a desk
    /// platform that is switched off, ...); each problem names the key or variable to fix.
    #[error("invalid configuration:\n  - {}", .problems.join("\n  - "))]
    Check { problems: Vec<String> },
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
    pub desk: DeskConfig,
    pub sla: SlaConfig,
    pub followup: FollowupConfig,
    pub inbox: InboxConfig,
    pub discord: DiscordConfig,
    pub slack: SlackConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
    pub web: WebConfig,
    pub privacy: PrivacyConfig,
    /// Values for `{{name}}` in answers and templates; nested tables give dotted names.
    pub vars: toml::Table,
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
        let base = table.clone();
        // (variable, dotted key, value) of each override, to name the culprit of a later error.
        let mut overrides = Vec::new();
        for (var, raw) in env {
            if let Some(rest) = var.strip_prefix("FRONTLINE__") {
                let path: Vec<String> = rest.split("__").map(|s| s.to_ascii_lowercase()).collect();
                let key = path.join(".");
                let value = env_override(&path, raw).map_err(|message| ConfigError::Env {
                    var: var.clone(),
                    message,
                })?;
                set_path(&mut table, &path, value.clone()).map_err(|message| ConfigError::Env {
                    var: var.clone(),
                    message,
                })?;
                overrides.push((var.clone(), key, path, value));
            }
        }
        if let Some(url) = env_var(env, "DATABASE_URL") {
            let db = table
                .entry("database")
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            if let toml::Value::Table(db) = db {
                db.insert("url".into(), toml::Value::String(url.to_string()));
            }
        }
        let mut config = match Config::deserialize(toml::Value::Table(table)) {
            Ok(config) => config,
            Err(e) => {
                // The types already match, but a value can still be refused (an unknown enum
                // variant, a negative count): try each override alone to name the one at fault.
                for (var, key, path, value) in &overrides {
                    let mut alone = base.clone();
                    if set_path(&mut alone, path, value.clone()).is_ok() {
                        if let Err(e) = Config::deserialize(toml::Value::Table(alone)) {
                            return Err(ConfigError::Env {
                                var: var.clone(),
                                message: format!("{key}: {}", e.message()),
                            });
                        }
                    }
                }
                let mut vars: Vec<String> = overrides.into_iter().map(|o| o.0).collect();
                if env_var(env, "DATABASE_URL").is_some() {
                    vars.push("DATABASE_URL".into());
                }
                return Err(ConfigError::Env {
                    var: vars.join(", "),
                    message: e.message().to_string(),
                });
            }
        };
        config.discord.token = secret(env, DISCORD_TOKEN_VAR);
        config.slack.bot_token = secret(env, SLACK_BOT_TOKEN_VAR);
        config.slack.app_token = secret(env, SLACK_APP_TOKEN_VAR);
        config.slack.signing_secret = secret(env, SLACK_SIGNING_SECRET_VAR);
        config.web.identity_secret = secret(env, IDENTITY_SECRET_VAR);
        Ok(config)
    }

    /// Checks what the types alone cannot: that each enabled platform is built in and has its
    /// secrets, that the desk platform is set up, and the support hours. Every problem is
    /// reported at once, each naming the key, variable or cargo feature to fix.
    pub fn validate(&self, features: Features) -> Result<(), ConfigError> {
        let mut problems = Vec::new();
        if let Err(e) = self.support_hours.validate() {
            problems.push(e);
        }
        if !(0.0..1.0).contains(&self.sla.remind_at) {
            problems.push(format!(
                "sla.remind_at: {} is not a share of the target below 1 (e.g. 0.75; 0 = off)",
                self.sla.remind_at
            ));
        }
        if self.inbox.max_attempts < 1 {
            problems.push("inbox.max_attempts must be at least 1".into());
        }
        if self.inbox.batch_max < 1 {
            problems.push("inbox.batch_max must be at least 1".into());
        }
        for proxy in &self.http.trusted_proxies {
            if proxy.trim().parse::<std::net::IpAddr>().is_err() {
                problems.push(format!(
                    "http.trusted_proxies: '{proxy}' is not an IP address"
                ));
            }
        }
        // Each origin goes into a Content-Security-Policy header as it is: a scheme and a host
        // (and port), nothing that could end or extend the directive.
        for origin in &self.web.allowed_origins {
            let host = origin
                .strip_prefix("https://")
                .or_else(|| origin.strip_prefix("http://"));
            if !host.is_some_and(|h| {
                !h.is_empty() && !h.contains(['/', ' ', ';', ',', '\'', '"', '\n'])
            }) {
                problems.push(format!(
                    "web.allowed_origins: '{origin}' is not an origin like https://shop.example.com"
                ));
            }
        }
        let discord = &self.discord;
        if discord.enabled {
            if !features.discord {
                problems.push(missing_feature("discord", "Discord"));
            }
            if !discord.token.is_set() {
                problems.push(format!(
                    "discord.enabled = true, but {DISCORD_TOKEN_VAR} is not set (the bot token)"
                ));
            }
        }
        let ids = [
            ("discord.staff_channel_id", &discord.staff_channel_id),
            ("discord.agent_role_id", &discord.agent_role_id),
        ];
        for (key, id) in ids.into_iter().chain(
            discord
                .support_channel_ids
                .iter()
                .map(|id| ("discord.support_channel_ids", id)),
        ) {
            // Discord ids are numbers; a pasted "#support" or role name would fail at run time.
            if !id.is_empty() && !id.bytes().all(|b| b.is_ascii_digit()) {
                problems.push(format!(
                    "{key}: '{id}' is not a Discord id (digits; use Copy ID in Discord's developer mode)"
                ));
            }
        }
        check_url(&mut problems, "discord.api_base", &discord.api_base);

        let slack = &self.slack;
        if slack.enabled {
            if !features.slack {
                problems.push(missing_feature("slack", "Slack"));
            }
            if !slack.bot_token.is_set() {
                problems.push(format!(
                    "slack.enabled = true, but {SLACK_BOT_TOKEN_VAR} is not set (the bot token, xoxb-…)"
                ));
            }
            match slack.mode {
                SlackMode::Socket if !slack.app_token.is_set() => problems.push(format!(
                    "slack.mode = \"socket\", but {SLACK_APP_TOKEN_VAR} is not set (the app-level token, xapp-…)"
                )),
                SlackMode::Events if !slack.signing_secret.is_set() => problems.push(format!(
                    "slack.mode = \"events\", but {SLACK_SIGNING_SECRET_VAR} is not set"
                )),
                _ => {}
            }
        }
        if slack.staff_channel.starts_with('#') {
            problems.push(format!(
                "slack.staff_channel: '{}' is a channel name; use the channel id (C…)",
                slack.staff_channel
            ));
        }
        check_url(&mut problems, "slack.api_base", &slack.api_base);

        match self.desk.platform {
            DeskPlatform::Web => {}
            DeskPlatform::Discord => {
                if !discord.enabled {
                    problems
                        .push("desk.platform = \"discord\" needs discord.enabled = true".into());
                }
                if discord.staff_channel_id.is_empty() {
                    problems.push(
                        "desk.platform = \"discord\" needs discord.staff_channel_id (the channel for ticket cards)".into(),
                    );
                }
                if discord.agent_role_id.is_empty() {
                    problems.push(
                        "desk.platform = \"discord\" needs discord.agent_role_id (the role of agents)".into(),
                    );
                }
            }
            DeskPlatform::Slack => {
                if !slack.enabled {
                    problems.push("desk.platform = \"slack\" needs slack.enabled = true".into());
                }
                if slack.staff_channel.is_empty() {
                    problems.push(
                        "desk.platform = \"slack\" needs slack.staff_channel (the channel id for ticket cards)".into(),
                    );
                }
                // Without either, nobody on Slack could claim or answer a ticket.
                if slack.agent_ids.is_empty() && slack.agent_group.is_empty() {
                    problems.push(
                        "desk.platform = \"slack\" needs slack.agent_ids or slack.agent_group (who the agents are)".into(),
                    );
                }
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError::Check { problems })
        }
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

fn missing_feature(feature: &str, name: &str) -> String {
    format!(
        "{feature}.enabled = true, but this build has no {name} support: build with --features {feature}"
    )
}

fn check_url(problems: &mut Vec<String>, key: &str, url: &str) {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        problems.push(format!("{key}: '{url}' is not an http:// or https:// URL"));
    }
}

/// The last value of `name` in `env`, as the process environment would have it.
fn env_var<'a>(env: &'a [(String, String)], name: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn secret(env: &[(String, String)], name: &str) -> Secret {
    env_var(env, name).map(Secret::new).unwrap_or_default()
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
                "postgres://u:pw-s3cret@h/db".to_string(),
            ),
        ];
        let config = Config::load_with_env(Some(&file.0), &env).unwrap();
        assert_eq!(config.http.bind, "0.0.0.0:9000");
        assert_eq!(config.conversation.max_misses, 4);
        assert_eq!(config.database.url, "postgres://u:pw-s3cret@h/db");
        assert!(!format!("{config:?}").contains("pw-s3cret"));
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

    #[test]
    fn secrets_show_only_whether_they_are_set() {
        assert_eq!(format!("{:?}", Secret::new("xoxb-1")), "[redacted]");
        assert_eq!(format!("{:?}", Secret::default()), "(unset)");
        assert!(!Secret::new("  ").is_set(), "an empty variable is no token");
        assert_eq!(Secret::new("t").expose(), Some("t"));
    }

    #[test]
    fn only_platform_desks_get_desk_events() {
        assert_eq!(DeskPlatform::Web.channel(), None);
        assert_eq!(DeskPlatform::Discord.channel(), Some("discord"));
        assert_eq!(DeskPlatform::Slack.channel(), Some("slack"));
    }

    #[test]
    fn only_a_stand_in_discord_gets_a_custom_api_base() {
        let mut discord = DiscordConfig::default();
        assert_eq!(discord.custom_api_base(), None);
        discord.api_base = "https://discord.com/".into();
        assert_eq!(discord.custom_api_base(), None);
        discord.api_base = "http://127.0.0.1:9/".into();
        assert_eq!(discord.custom_api_base(), Some("http://127.0.0.1:9"));
    }
}
