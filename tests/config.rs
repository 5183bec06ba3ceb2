//! Configuration as an admin writes it: environment overrides typed by their key, platform
//! secrets from their own variables and never printed, and start-up checks that name what to fix.

use std::path::{Path, PathBuf};

use frontline::config::{
    Config, ConfigError, DeskConfig, DeskPlatform, DiscordConfig, Features, RelayMode, SlackConfig,
    SlackMode,
};

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn load(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
    Config::load_with_env(None, &env(pairs))
}

fn default_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("config/default.toml")
}

const BOTH: Features = Features {
    discord: true,
    slack: true,
};

/// The problems `validate` reports, one string each.
fn problems(config: &Config, features: Features) -> Vec<String> {
    match config.validate(features) {
        Ok(()) => Vec::new(),
        Err(ConfigError::Check { problems }) => problems,
        Err(other) => panic!("unexpected error: {other}"),
    }
}

#[test]
fn environment_values_take_the_type_of_their_key() {
    let config = load(&[
        ("FRONTLINE__DISCORD__STAFF_CHANNEL_ID", "600000000000000002"),
        ("FRONTLINE__DISCORD__SUPPORT_CHANNEL_IDS", "1,2"),
        ("FRONTLINE__SLACK__AGENT_IDS", "U0000002"),
        ("FRONTLINE__SLACK__STAFF_CHANNEL", "C0000002"),
        ("FRONTLINE__SUPPORT_HOURS__OPEN", "09:00"),
        ("FRONTLINE__DESK__PLATFORM", "slack"),
        ("FRONTLINE__SLACK__ENABLED", "true"),
        ("FRONTLINE__SLACK__MODE", "events"),
    ])
    .unwrap();
    assert_eq!(config.discord.staff_channel_id, "600000000000000002");
    assert_eq!(config.discord.support_channel_ids, ["1", "2"]);
    assert_eq!(config.slack.agent_ids, ["U0000002"]);
    assert_eq!(config.slack.staff_channel, "C0000002");
    assert_eq!(config.support_hours.open, "09:00");
    assert_eq!(config.desk.platform, DeskPlatform::Slack);
    assert!(config.slack.enabled);
    assert_eq!(config.slack.mode, SlackMode::Events);
}

#[test]
fn a_list_takes_one_value_a_comma_list_or_a_toml_array() {
    let two = load(&[("FRONTLINE__SLACK__AGENT_IDS", "U1,U2")]).unwrap();
    assert_eq!(two.slack.agent_ids, ["U1", "U2"]);
    let array = load(&[("FRONTLINE__SLACK__HELP_CHANNELS", r#"["C1", "C2"]"#)]).unwrap();
    assert_eq!(array.slack.help_channels, ["C1", "C2"]);
    let days = load(&[("FRONTLINE__SUPPORT_HOURS__DAYS", "mon,tue")]).unwrap();
    assert_eq!(days.support_hours.days, ["mon", "tue"]);
}

#[test]
fn environment_overrides_the_file() {
    let config = Config::load_with_env(
        Some(&default_file()),
        &env(&[
            ("FRONTLINE__DISCORD__AGENT_ROLE_ID", "600000000000000009"),
            ("FRONTLINE__HTTP__BIND", "0.0.0.0:9000"),
            ("FRONTLINE__OUTBOX__MAX_ATTEMPTS", "3"),
            ("FRONTLINE__MATCHER__TARGET_PRECISION", "0.9"),
        ]),
    )
    .unwrap();
    assert_eq!(config.discord.agent_role_id, "600000000000000009");
    assert_eq!(config.http.bind, "0.0.0.0:9000");
    assert_eq!(config.outbox.max_attempts, 3);
    assert_eq!(config.matcher.target_precision, 0.9);
    assert_eq!(
        config.vars()["shop.name"],
        "Northwind Goods",
        "the file's vars stay"
    );
}

#[test]
fn vars_from_the_environment_are_strings() {
    let config = load(&[
        ("FRONTLINE__VARS__SUPPORT__PHONE", "02079460000"),
        ("FRONTLINE__VARS__OPENS", "09:00"),
    ])
    .unwrap();
    let vars = config.vars();
    assert_eq!(vars["support.phone"], "02079460000");
    assert_eq!(vars["opens"], "09:00");
}

#[test]
fn a_bad_value_names_the_variable_and_the_key() {
    let err = load(&[("FRONTLINE__DISCORD__ENABLED", "yes please")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("FRONTLINE__DISCORD__ENABLED"), "{err}");
    assert!(err.contains("discord.enabled"), "{err}");
    assert!(err.contains("true or false"), "{err}");

    let err = load(&[("FRONTLINE__QUEUE__UPDATE_MINUTES", "ten")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("FRONTLINE__QUEUE__UPDATE_MINUTES"), "{err}");
    assert!(err.contains("queue.update_minutes"), "{err}");
}

#[test]
fn a_bad_choice_names_the_variable_the_key_and_the_allowed_values() {
    let err = load(&[
        ("FRONTLINE__HTTP__BIND", "0.0.0.0:9000"),
        ("FRONTLINE__DESK__PLATFORM", "teams"),
    ])
    .unwrap_err()
    .to_string();
    assert!(err.contains("FRONTLINE__DESK__PLATFORM"), "{err}");
    assert!(
        !err.contains("FRONTLINE__HTTP__BIND"),
        "only the culprit: {err}"
    );
    assert!(err.contains("desk.platform"), "{err}");
    for allowed in ["web", "discord", "slack"] {
        assert!(err.contains(allowed), "{err}");
    }
    let err = load(&[("FRONTLINE__SLACK__MODE", "webhook")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("socket") && err.contains("events"), "{err}");
}

#[test]
fn unknown_keys_name_the_variable() {
    let err = load(&[("FRONTLINE__DISCORD__STAFF_CHANNEL", "1")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("FRONTLINE__DISCORD__STAFF_CHANNEL"), "{err}");
    assert!(err.contains("unknown key discord.staff_channel"), "{err}");
    assert!(
        err.contains("staff_channel_id"),
        "lists the known keys: {err}"
    );

    let err = load(&[("FRONTLINE__NOPE__KEY", "1")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("FRONTLINE__NOPE__KEY"), "{err}");

    let err = load(&[("FRONTLINE__HTTP__BIND__PORT", "1")])
        .unwrap_err()
        .to_string();
    assert!(err.contains("http.bind is not a section"), "{err}");
}

#[test]
fn a_token_cannot_be_set_as_a_key() {
    let err = load(&[("FRONTLINE__DISCORD__TOKEN", "abc")])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("DISCORD_TOKEN"),
        "points to the variable: {err}"
    );
    assert!(!err.contains("abc"), "{err}");
}

#[test]
fn ids_written_as_numbers_in_the_file_are_refused_with_the_line() {
    let path =
        std::env::temp_dir().join(format!("frontline-config-ids-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        "[discord]\nenabled = false\nstaff_channel_id = 600000000000000002\n",
    )
    .unwrap();
    let err = Config::load_with_env(Some(&path), &[])
        .unwrap_err()
        .to_string();
    let _ = std::fs::remove_file(&path);
    assert!(err.contains(":3:"), "{err}");
}

#[test]
fn secrets_come_from_their_variables_and_never_show_in_debug() {
    let config = load(&[
        ("DISCORD_TOKEN", "discord-token-value"),
        ("SLACK_BOT_TOKEN", "xoxb-bot-value"),
        ("SLACK_APP_TOKEN", "xapp-app-value"),
        ("SLACK_SIGNING_SECRET", "signing-value"),
    ])
    .unwrap();
    assert_eq!(config.discord.token.expose(), Some("discord-token-value"));
    assert_eq!(config.slack.bot_token.expose(), Some("xoxb-bot-value"));
    assert_eq!(config.slack.app_token.expose(), Some("xapp-app-value"));
    assert_eq!(config.slack.signing_secret.expose(), Some("signing-value"));
    let debug = format!("{config:?}");
    for secret in [
        "discord-token-value",
        "xoxb-bot-value",
        "xapp-app-value",
        "signing-value",
    ] {
        assert!(!debug.contains(secret), "{secret} leaked");
    }
    assert!(debug.contains("[redacted]"), "{debug}");
    let pretty = format!("{config:#?}");
    assert!(!pretty.contains("discord-token-value"));

    let unset = load(&[]).unwrap();
    assert!(!unset.discord.token.is_set());
    assert!(format!("{:?}", unset.slack).contains("(unset)"));
}

#[test]
fn the_default_file_documents_every_new_key_with_its_default() {
    let config = Config::load_with_env(Some(&default_file()), &[]).unwrap();
    assert_eq!(config.desk, DeskConfig::default());
    assert_eq!(config.discord, DiscordConfig::default());
    assert_eq!(config.slack, SlackConfig::default());
    assert_eq!(config.desk.platform, DeskPlatform::Web);
    assert_eq!(config.desk.relay, RelayMode::All);
    assert_eq!(config.slack.mode, SlackMode::Socket);
    assert_eq!(config.discord.api_base, "https://discord.com");
    assert_eq!(config.slack.api_base, "https://slack.com/api");
    // Every key of the new sections is written out, not left to the built-in default.
    let text = std::fs::read_to_string(default_file()).unwrap();
    let table: toml::Table = text.parse().unwrap();
    let keys = |section: &str| -> Vec<String> {
        let mut keys: Vec<String> = table[section].as_table().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    };
    assert_eq!(keys("desk"), ["platform", "relay", "snippets_dir"]);
    assert_eq!(keys("sla"), ["first_reply_minutes", "remind_at"]);
    assert_eq!(keys("followup"), ["close_hours", "remind_hours"]);
    assert_eq!(
        keys("inbox"),
        ["batch_max", "batch_wait_us", "max_attempts"]
    );
    assert_eq!(config.sla, frontline::config::SlaConfig::default());
    assert_eq!(
        config.followup,
        frontline::config::FollowupConfig::default()
    );
    assert_eq!(config.inbox, frontline::config::InboxConfig::default());
    assert_eq!(
        keys("discord"),
        [
            "agent_role_id",
            "api_base",
            "enabled",
            "staff_channel_id",
            "support_channel_ids"
        ]
    );
    assert_eq!(
        keys("slack"),
        [
            "agent_group",
            "agent_ids",
            "api_base",
            "enabled",
            "help_channels",
            "mode",
            "staff_channel"
        ]
    );
    assert_eq!(problems(&config, BOTH), Vec::<String>::new());
    assert_eq!(
        problems(
            &config,
            Features {
                discord: false,
                slack: false
            }
        ),
        Vec::<String>::new(),
        "a build without platforms starts with the shipped file"
    );
}

#[test]
fn an_enabled_platform_needs_its_tokens() {
    let config = load(&[("FRONTLINE__DISCORD__ENABLED", "true")]).unwrap();
    let found = problems(&config, BOTH);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("DISCORD_TOKEN"), "{found:?}");
    let with_token = load(&[
        ("FRONTLINE__DISCORD__ENABLED", "true"),
        ("DISCORD_TOKEN", "t"),
    ])
    .unwrap();
    assert_eq!(problems(&with_token, BOTH), Vec::<String>::new());
    let empty_token = load(&[
        ("FRONTLINE__DISCORD__ENABLED", "true"),
        ("DISCORD_TOKEN", ""),
    ])
    .unwrap();
    assert!(problems(&empty_token, BOTH)[0].contains("DISCORD_TOKEN"));

    let socket = load(&[("FRONTLINE__SLACK__ENABLED", "true")]).unwrap();
    let found = problems(&socket, BOTH).join("\n");
    assert!(found.contains("SLACK_BOT_TOKEN"), "{found}");
    assert!(found.contains("SLACK_APP_TOKEN"), "{found}");
    assert!(
        !found.contains("SLACK_SIGNING_SECRET"),
        "not in socket mode: {found}"
    );

    let events = load(&[
        ("FRONTLINE__SLACK__ENABLED", "true"),
        ("FRONTLINE__SLACK__MODE", "events"),
        ("SLACK_BOT_TOKEN", "xoxb-1"),
    ])
    .unwrap();
    let found = problems(&events, BOTH);
    assert_eq!(found.len(), 1, "{found:?}");
    assert!(found[0].contains("SLACK_SIGNING_SECRET"), "{found:?}");
    let socket_ok = load(&[
        ("FRONTLINE__SLACK__ENABLED", "true"),
        ("SLACK_BOT_TOKEN", "xoxb-1"),
        ("SLACK_APP_TOKEN", "xapp-1"),
    ])
    .unwrap();
    assert_eq!(problems(&socket_ok, BOTH), Vec::<String>::new());
}

#[test]
fn the_discord_desk_needs_discord_its_staff_channel_and_agent_role() {
    let config = load(&[("FRONTLINE__DESK__PLATFORM", "discord")]).unwrap();
    let found = problems(&config, BOTH).join("\n");
    assert!(found.contains("discord.enabled"), "{found}");
    assert!(found.contains("discord.staff_channel_id"), "{found}");
    assert!(found.contains("discord.agent_role_id"), "{found}");
    let err = config.validate(BOTH).unwrap_err().to_string();
    assert!(
        err.contains("discord.agent_role_id"),
        "the Display has them all: {err}"
    );

    let ready = load(&[
        ("FRONTLINE__DESK__PLATFORM", "discord"),
        ("FRONTLINE__DISCORD__ENABLED", "true"),
        ("FRONTLINE__DISCORD__STAFF_CHANNEL_ID", "600000000000000002"),
        ("FRONTLINE__DISCORD__AGENT_ROLE_ID", "600000000000000004"),
        ("DISCORD_TOKEN", "t"),
    ])
    .unwrap();
    assert_eq!(problems(&ready, BOTH), Vec::<String>::new());
}

#[test]
fn the_slack_desk_needs_slack_its_staff_channel_and_agents() {
    let config = load(&[("FRONTLINE__DESK__PLATFORM", "slack")]).unwrap();
    let found = problems(&config, BOTH).join("\n");
    assert!(found.contains("slack.enabled"), "{found}");
    assert!(found.contains("slack.staff_channel"), "{found}");
    assert!(
        found.contains("slack.agent_ids or slack.agent_group"),
        "{found}"
    );

    let ready = load(&[
        ("FRONTLINE__DESK__PLATFORM", "slack"),
        ("FRONTLINE__SLACK__ENABLED", "true"),
        ("FRONTLINE__SLACK__STAFF_CHANNEL", "C0000002"),
        ("FRONTLINE__SLACK__AGENT_GROUP", "S0000001"),
        ("SLACK_BOT_TOKEN", "xoxb-1"),
        ("SLACK_APP_TOKEN", "xapp-1"),
    ])
    .unwrap();
    assert_eq!(problems(&ready, BOTH), Vec::<String>::new());
}

#[test]
fn enabling_a_platform_the_build_lacks_names_the_feature() {
    let config = load(&[
        ("FRONTLINE__DISCORD__ENABLED", "true"),
        ("DISCORD_TOKEN", "t"),
        ("FRONTLINE__SLACK__ENABLED", "true"),
        ("SLACK_BOT_TOKEN", "xoxb-1"),
        ("SLACK_APP_TOKEN", "xapp-1"),
    ])
    .unwrap();
    assert_eq!(problems(&config, BOTH), Vec::<String>::new());
    let found = problems(
        &config,
        Features {
            discord: false,
            slack: true,
        },
    );
    assert_eq!(
        found,
        ["discord.enabled = true, but this build has no Discord support: build with --features discord"]
    );
    let found = problems(
        &config,
        Features {
            discord: true,
            slack: false,
        },
    );
    assert_eq!(
        found,
        ["slack.enabled = true, but this build has no Slack support: build with --features slack"]
    );
}

#[test]
fn ids_and_addresses_that_cannot_work_are_named() {
    let config = load(&[
        ("FRONTLINE__DISCORD__STAFF_CHANNEL_ID", "#support"),
        ("FRONTLINE__DISCORD__SUPPORT_CHANNEL_IDS", "1,general"),
        ("FRONTLINE__SLACK__STAFF_CHANNEL", "#agents"),
        ("FRONTLINE__SLACK__API_BASE", "slack.com/api"),
    ])
    .unwrap();
    let found = problems(&config, BOTH).join("\n");
    assert!(
        found.contains("discord.staff_channel_id: '#support'"),
        "{found}"
    );
    assert!(
        found.contains("discord.support_channel_ids: 'general'"),
        "{found}"
    );
    assert!(found.contains("slack.staff_channel: '#agents'"), "{found}");
    assert!(found.contains("slack.api_base"), "{found}");
}

#[test]
fn support_hours_are_checked_with_the_rest() {
    let config = load(&[
        ("FRONTLINE__SUPPORT_HOURS__OPEN", "9am"),
        ("FRONTLINE__DISCORD__ENABLED", "true"),
    ])
    .unwrap();
    let found = problems(&config, BOTH).join("\n");
    assert!(found.contains("support_hours.open"), "{found}");
    assert!(
        found.contains("DISCORD_TOKEN"),
        "every problem at once: {found}"
    );
}
