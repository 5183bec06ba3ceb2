//! The gateway: one WebSocket connection per client connection, JSON text frames.
use std::sync::Arc;

use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

use super::{Conn, Ctl, FakeUser, Inner, ResumeMode, Session, State, APPLICATION_ID, GUILD_ID};

pub(crate) async fn serve(listener: TcpListener, inner: Arc<Inner>) {
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => {
                tokio::spawn(connection(tcp, inner.clone()));
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(10)).await,
        }
    }
}

fn token_ok(inner: &Inner, d: &Value) -> bool {
    let t = d["token"].as_str().unwrap_or_default();
    t.strip_prefix("Bot ").unwrap_or(t) == inner.lock().options.token
}

async fn close(ws: &mut WebSocketStream<TcpStream>, code: u16, reason: &str) {
    let _ = ws
        .close(Some(CloseFrame {
            code: CloseCode::from(code),
            reason: reason.to_string().into(),
        }))
        .await;
}

async fn connection(tcp: TcpStream, inner: Arc<Inner>) {
    let _ = tcp.set_nodelay(true);
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Ctl>();
    let (id, heartbeat_interval) = {
        let mut st = inner.lock();
        let id = st.next_conn_id;
        st.next_conn_id += 1;
        st.connections += 1;
        // The client runs one shard: a new connection supersedes an older one.
        st.conn = Some(Conn {
            id,
            tx: tx.clone(),
            session: None,
        });
        (id, st.options.heartbeat_interval_ms)
    };
    // Only the registered connection holds a sender once the fake lets go of it (drop, op 7).
    drop(tx);
    let hello = json!({"op": 10, "d": {"heartbeat_interval": heartbeat_interval}});
    let mut open = ws.send(Message::Text(hello.to_string())).await.is_ok();
    let mut detached = false;
    while open {
        tokio::select! {
            frame = ws.next() => {
                match frame {
                    Some(Ok(Message::Text(text))) => {
                        open = client_frame(&inner, id, &mut ws, &text).await;
                    }
                    Some(Ok(Message::Ping(p))) => {
                        let _ = ws.send(Message::Pong(p)).await;
                    }
                    Some(Ok(Message::Binary(_))) => {
                        close(&mut ws, 4002, "Error while decoding payload.").await;
                    }
                    Some(Ok(Message::Close(_))) => {
                        // tungstenite queued the closing handshake's reply: send it.
                        let _ = ws.flush().await;
                        open = false;
                    }
                    None | Some(Err(_)) => open = false,
                    Some(Ok(_)) => {}
                }
            }
            ctl = rx.recv(), if !detached => {
                match ctl {
                    Some(Ctl::Text(text)) => {
                        open = ws.send(Message::Text(text)).await.is_ok();
                    }
                    Some(Ctl::Reset) => {
                        // SO_LINGER 0: closing sends RST, the client reads ECONNRESET.
                        let _ = ws.get_ref().set_zero_linger();
                        drop(ws);
                        forget(&inner, id);
                        return;
                    }
                    Some(Ctl::Close(code)) => close(&mut ws, code, "").await,
                    None => detached = true,
                }
            }
        }
    }
    forget(&inner, id);
}

fn forget(inner: &Inner, id: u64) {
    let mut st = inner.lock();
    if st.conn.as_ref().is_some_and(|c| c.id == id) {
        st.conn = None;
    }
}

/// Handles one client payload; false when the connection should end.
async fn client_frame(
    inner: &Inner,
    id: u64,
    ws: &mut WebSocketStream<TcpStream>,
    text: &str,
) -> bool {
    let Ok(payload) = serde_json::from_str::<Value>(text) else {
        close(ws, 4002, "Error while decoding payload.").await;
        return true;
    };
    let d = &payload["d"];
    match payload["op"].as_u64() {
        Some(1) => ws
            .send(Message::Text(json!({"op": 11}).to_string()))
            .await
            .is_ok(),
        Some(2) => {
            if !token_ok(inner, d) {
                close(ws, 4004, "Authentication failed.").await;
                return true;
            }
            if identify(inner, id, d) {
                true
            } else {
                close(ws, 4005, "Already authenticated.").await;
                true
            }
        }
        Some(6) => {
            if resume(inner, id, d) {
                true
            } else {
                ws.send(Message::Text(json!({"op": 9, "d": false}).to_string()))
                    .await
                    .is_ok()
            }
        }
        // Presence updates, member chunk requests, voice: accepted and ignored.
        Some(3 | 4 | 8) => true,
        _ => {
            close(ws, 4001, "Unknown opcode.").await;
            true
        }
    }
}

/// IDENTIFY: a new session and READY. False when this connection already has a session.
fn identify(inner: &Inner, id: u64, d: &Value) -> bool {
    let mut st = inner.lock();
    let mut recorded = d.clone();
    recorded["token"] = json!("<redacted>");
    st.identifies.push(recorded);
    let Some(conn) = st.conn.as_mut().filter(|c| c.id == id) else {
        return true; // a superseded connection: ignore
    };
    if conn.session.is_some() {
        return false;
    }
    let session_id = format!("fake-session-{:x}", st.new_id());
    st.sessions.insert(
        session_id.clone(),
        Session {
            seq: 0,
            intents: d["intents"].as_u64().unwrap_or(0),
        },
    );
    if let Some(conn) = st.conn.as_mut() {
        conn.session = Some(session_id.clone());
    }
    let mut user = State::user_json(&FakeUser::bot_user());
    user["verified"] = json!(true);
    user["mfa_enabled"] = json!(false);
    user["email"] = Value::Null;
    let mut ready = json!({
        "v": 10,
        "user": user,
        "guilds": [{"id": GUILD_ID, "unavailable": true}],
        "session_id": session_id,
        "resume_gateway_url": st.gateway_url,
        "application": {"id": APPLICATION_ID, "flags": 0},
    });
    if d["shard"].is_array() {
        ready["shard"] = d["shard"].clone();
    }
    st.ready_count += 1;
    st.dispatch("READY", ready);
    true
}

/// RESUME: RESUMED when accepted; false when the client must get op 9.
fn resume(inner: &Inner, id: u64, d: &Value) -> bool {
    let mut st = inner.lock();
    let mut recorded = d.clone();
    recorded["token"] = json!("<redacted>");
    st.resumes.push(recorded);
    let sid = d["session_id"].as_str().unwrap_or_default().to_string();
    let accept = st.options.token
        == d["token"]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches("Bot ")
        && st.options.resume == ResumeMode::Accept
        && st.sessions.contains_key(&sid);
    let registered = st.conn.as_ref().is_some_and(|c| c.id == id);
    if accept && registered {
        if let Some(conn) = st.conn.as_mut() {
            conn.session = Some(sid);
        }
        st.resumed_count += 1;
        st.dispatch("RESUMED", json!({}));
        true
    } else {
        st.sessions.remove(&sid);
        false
    }
}
