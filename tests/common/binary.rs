//! The real `frontline` binary as a child process on 127.0.0.1, for tests that kill it (SIGKILL)
//! or run several instances; and a TCP proxy a test can cut to take a database away.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::copy_bidirectional;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A port nobody listens on right now (bound and let go; good enough on a test machine).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running `frontline` (serving), killed when dropped.
pub struct Binary {
    pub base: String,
    child: Child,
    /// Where its log goes, for assertion messages.
    pub log: PathBuf,
}

impl Binary {
    /// Starts `frontline` on `database_url` in the repository folder (shipped config and
    /// intents), with `env` on top, and waits until it answers `/readyz`.
    pub async fn start(database_url: &str, log: &Path, env: &[(&str, String)]) -> Binary {
        let port = free_port();
        let log_file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_frontline"));
        command
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .env("DATABASE_URL", database_url)
            .env("FRONTLINE__HTTP__BIND", format!("127.0.0.1:{port}"))
            .env("FRONTLINE__INTENTS__WATCH", "false")
            // One test client is many customers from one address.
            .env("FRONTLINE__HTTP__SESSIONS_PER_MINUTE_PER_IP", "0")
            .env("FRONTLINE__HTTP__MESSAGES_PER_MINUTE_PER_SESSION", "0")
            .env("RUST_LOG", "info,sqlx=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log_file));
        for (k, v) in env {
            command.env(k, v);
        }
        let child = command.spawn().expect("starts frontline");
        let binary = Binary {
            base: format!("http://127.0.0.1:{port}"),
            child,
            log: log.to_path_buf(),
        };
        binary.wait_ready().await;
        binary
    }

    async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(resp) = http.get(self.url("/readyz")).send().await {
                if resp.status() == 200 {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "frontline did not get ready; its log:\n{}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no lease released, nothing flushed.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Binary {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A TCP proxy on 127.0.0.1 in front of `target`, which a test cuts (every connection dropped,
/// new ones refused) and restores, as a network partition or a database restart would.
pub struct Proxy {
    pub port: u16,
    state: Arc<Mutex<ProxyState>>,
    accept: JoinHandle<()>,
}

#[derive(Default)]
struct ProxyState {
    cut: bool,
    links: Vec<JoinHandle<()>>,
}

impl Proxy {
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(ProxyState::default()));
        let accept = tokio::spawn({
            let state = state.clone();
            async move {
                loop {
                    let Ok((mut client, _)) = listener.accept().await else {
                        continue;
                    };
                    let mut st = state.lock().unwrap();
                    if st.cut {
                        // Refused: the connection is closed at once.
                        drop(client);
                        continue;
                    }
                    let target = target.clone();
                    st.links.retain(|l| !l.is_finished());
                    st.links.push(tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(&target).await {
                            let _ = copy_bidirectional(&mut client, &mut server).await;
                        }
                    }));
                }
            }
        });
        Proxy {
            port,
            state,
            accept,
        }
    }

    /// Drops every open connection and refuses new ones; returns once they are closed.
    pub async fn cut(&self) {
        let links: Vec<JoinHandle<()>> = {
            let mut st = self.state.lock().unwrap();
            st.cut = true;
            st.links.drain(..).collect()
        };
        for link in links {
            link.abort();
            let _ = link.await;
        }
    }

    pub fn restore(&self) {
        self.state.lock().unwrap().cut = false;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        let mut st = self.state.lock().unwrap();
        st.cut = true;
        for link in st.links.drain(..) {
            link.abort();
        }
    }
}

/// The URL with its host and port replaced (the proxy in front of the server).
pub fn through(url: &str, host_port: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let user = authority.rsplit_once('@').map(|(u, _)| format!("{u}@"));
    format!("{scheme}://{}{host_port}/{path}", user.unwrap_or_default())
}

/// `host:port` of a database URL (PostgreSQL's 5432 when it names no port).
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let authority = rest.split(['/', '?']).next().unwrap();
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.contains(':') {
        host.to_string()
    } else {
        format!("{host}:5432")
    }
}
