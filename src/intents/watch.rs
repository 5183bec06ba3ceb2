//! Hot reload: watch the intents folder and swap in a newly trained matcher when it changes.
//!
//! Polling file names, sizes and modification times is portable and survives editors that
//! replace files, network mounts and containers. A change is loaded once the folder has held
//! still for one poll, and trained on a blocking thread; only a valid set replaces the matcher in
//! service, so a broken edit never takes the bot's answers away. Messages already being handled
//! finish on the snapshot they took.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::check::load_dir_with;
use super::error::{LoadError, Problem};
use super::matcher::{TrainStats, TrainedMatcher};
use super::settings::MatcherSettings;
use crate::core::matcher::MatcherHandle;

/// What a folder looks like: every intent file with its size and modification time.
pub type Fingerprint = Vec<(PathBuf, u64, Option<SystemTime>)>;

pub fn fingerprint(dir: &Path) -> Fingerprint {
    let files = super::file::find_files(dir).unwrap_or_default();
    files
        .into_iter()
        .map(|p| {
            let meta = std::fs::metadata(&p).ok();
            let size = meta.as_ref().map_or(0, |m| m.len());
            let modified = meta.and_then(|m| m.modified().ok());
            (p, size, modified)
        })
        .collect()
}

/// The result of a successful reload.
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadOutcome {
    pub stats: TrainStats,
}

/// Loads, validates and trains `dir`; on success swaps the result into `handle`. On failure the
/// matcher in service stays and the error (every `FILE:LINE: message`) is returned.
pub fn reload_once(
    dir: &Path,
    settings: &MatcherSettings,
    known_vars: &BTreeSet<String>,
    handle: &MatcherHandle,
) -> Result<ReloadOutcome, LoadError> {
    let set = load_dir_with(dir, known_vars, settings)?;
    // A model that stops loading or embedding keeps the matcher in service, like a bad file.
    let matcher = TrainedMatcher::build(&set, settings).map_err(|e| LoadError {
        problems: vec![Problem::error(&settings.model_dir, 0, e.to_string())],
    })?;
    let stats = matcher.stats().clone();
    handle.replace(Arc::new(matcher));
    Ok(ReloadOutcome { stats })
}

/// Watches `dir` every `poll` and reloads on change. Runs until the task is aborted.
pub fn spawn_reloader(
    dir: PathBuf,
    settings: MatcherSettings,
    known_vars: BTreeSet<String>,
    handle: MatcherHandle,
    poll: Duration,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let settings = Arc::new(settings);
        let known_vars = Arc::new(known_vars);
        let mut last = {
            let d = dir.clone();
            tokio::task::spawn_blocking(move || fingerprint(&d))
                .await
                .unwrap_or_default()
        };
        // A change seen on one poll, loaded only once the next poll sees the same thing.
        let mut unsettled: Option<Fingerprint> = None;
        let mut ticker = tokio::time::interval(poll.max(Duration::from_millis(10)));
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let d = dir.clone();
            let now = match tokio::task::spawn_blocking(move || fingerprint(&d)).await {
                Ok(f) => f,
                Err(_) => continue,
            };
            if now == last {
                unsettled = None;
                continue;
            }
            // Editors and `cp` write in steps (create empty, then fill); loading mid-write would
            // log a spurious error or train the same set twice, so wait until it holds still.
            if unsettled.as_ref() != Some(&now) {
                unsettled = Some(now);
                continue;
            }
            unsettled = None;
            last = now;
            let (d, s, k, h) = (
                dir.clone(),
                settings.clone(),
                known_vars.clone(),
                handle.clone(),
            );
            match tokio::task::spawn_blocking(move || reload_once(&d, &s, &k, &h)).await {
                Ok(Ok(outcome)) => tracing::info!(
                    dir = %dir.display(),
                    intents = outcome.stats.intents,
                    examples = outcome.stats.examples,
                    train_ms = outcome.stats.train_ms,
                    threshold = outcome.stats.threshold,
                    "intents reloaded"
                ),
                Ok(Err(e)) => tracing::error!(
                    dir = %dir.display(),
                    "intents not reloaded, the previous set stays in service:\n{e}"
                ),
                Err(e) => tracing::error!(dir = %dir.display(), "intent reload failed: {e}"),
            }
        }
    })
}
