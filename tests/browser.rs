//! The customer journey in a real browser: the /chat and /agent pages in headless Chromium,
//! driven through chromedriver (WebDriver) against the whole application on 127.0.0.1:0.
//!
//! Skipped, with a note, when `chromedriver` is not on PATH, so a newcomer's `cargo test` passes
//! without a browser; .ci/run installs Debian's `chromium` and `chromium-driver` and sets
//! FRONTLINE_REQUIRE_BROWSER so the test cannot skip there.
//! Screenshots of both pages land in `target/tmp/browser-journey/` (also when the test fails).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{Db, TestApp};
use fantoccini::key::Key;
use fantoccini::{Client, ClientBuilder, Locator};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{json, Value};

/// How long to wait for something to show up on a page: generous, the pages long-poll and
/// refresh every few seconds.
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_and_agent_journey_in_the_browser() {
    let Some(chromedriver) = on_path("chromedriver") else {
        // CI sets this so a broken browser install fails loudly instead of skipping quietly.
        assert!(
            std::env::var_os("FRONTLINE_REQUIRE_BROWSER").is_none(),
            "chromedriver not installed, but FRONTLINE_REQUIRE_BROWSER is set"
        );
        eprintln!("skipped: chromedriver not installed");
        return;
    };
    let app = TestApp::start(Db::sqlite()).await;
    let token = app.add_agent("alice").await;
    let driver = Driver::start(&chromedriver).await;
    let customer = Browser::open(&driver, "customer").await;
    let agent = Browser::open(&driver, "agent").await;

    // Run the journey in its own task so a failed assertion still lets us save screenshots,
    // end both browser sessions and stop chromedriver before the test reports the failure.
    let outcome = tokio::spawn(journey(
        app.base.clone(),
        token,
        customer.client.clone(),
        agent.client.clone(),
    ))
    .await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-journey");
    customer.close(&shots.join("chat.png")).await;
    agent.close(&shots.join("agent.png")).await;
    drop(driver);
    if let Err(e) = outcome {
        eprintln!("screenshots: {}", shots.display());
        std::panic::resume_unwind(e.into_panic());
    }
}

/// A shop's page on another origin embeds the widget for a signed-in customer: the chat opens in
/// a frame (allowed by frame-ancestors), greets them by name, and a message goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_widget_on_another_site_opens_the_chat_and_a_message_goes_through() {
    let Some(chromedriver) = on_path("chromedriver") else {
        assert!(
            std::env::var_os("FRONTLINE_REQUIRE_BROWSER").is_none(),
            "chromedriver not installed, but FRONTLINE_REQUIRE_BROWSER is set"
        );
        eprintln!("skipped: chromedriver not installed");
        return;
    };
    // The shop: another origin (localhost vs 127.0.0.1, and another port).
    let shop = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let shop_origin = format!("http://localhost:{}", shop.local_addr().unwrap().port());
    let secret = "widget-test-secret";
    let mut config = common::test_config();
    config.web.allowed_origins = vec![shop_origin.clone()];
    config.web.identity_secret = frontline::config::Secret::new(secret);
    let app = TestApp::start_with(
        Db::sqlite(),
        common::Options {
            config,
            ..Default::default()
        },
        frontline::clock::ManualClock::new(common::START_MS),
    )
    .await;
    let page = format!(
        "<!doctype html><html><head><title>Shop</title></head><body><h1>Northwind shop</h1>\
         <script src=\"{}/widget.js\" async data-user-id=\"cust-7\" data-user-hash=\"{}\" \
         data-name=\"Wes\"></script></body></html>",
        app.base,
        frontline::channels::web::identity::user_hash(secret, "cust-7")
    );
    let shop_server = tokio::spawn(async move {
        let router = axum::Router::new().route(
            "/",
            axum::routing::get(move || async move { axum::response::Html(page) }),
        );
        let _ = axum::serve(shop, router).await;
    });

    let driver = Driver::start(&chromedriver).await;
    let browser = Browser::open(&driver, "widget").await;
    let outcome = tokio::spawn(widget_journey(shop_origin, browser.client.clone())).await;
    let shots = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-journey");
    browser.close(&shots.join("widget.png")).await;
    drop(driver);
    shop_server.abort();
    if let Err(e) = outcome {
        eprintln!("screenshots: {}", shots.display());
        std::panic::resume_unwind(e.into_panic());
    }
}

async fn widget_journey(shop: String, client: Client) {
    // A phone-sized window.
    client.set_window_size(390, 844).await.unwrap();
    client.goto(&format!("{shop}/")).await.unwrap();
    wait_for(
        &client,
        "the widget's button",
        "return document.getElementById('frontline-chat-button') !== null",
    )
    .await;
    click(&client, "#frontline-chat-button").await;
    let width = wait_for(
        &client,
        "the chat frame",
        "const f = document.getElementById('frontline-chat-frame'); \
         return f && f.getBoundingClientRect().width",
    )
    .await;
    assert!(
        width.as_f64().unwrap() <= 390.0,
        "the frame fits the screen: {width}"
    );
    assert_eq!(
        client
            .execute(
                "return document.getElementById('frontline-chat-button').getAttribute('aria-expanded')",
                vec![]
            )
            .await
            .unwrap(),
        json!("true")
    );
    client
        .find(Locator::Css("#frontline-chat-frame"))
        .await
        .unwrap()
        .enter_frame()
        .await
        .unwrap();
    // Known to the shop: no form, a greeting by name.
    let greeting = wait_for(
        &client,
        "the greeting in the frame",
        "const w = document.querySelector('#messages .msg[data-from=welcome] .body'); \
         return w && !document.getElementById('chat').hidden && w.textContent",
    )
    .await;
    assert_eq!(greeting, json!("Welcome back, Wes!"));
    fill(&client, "#text", "where is my order").await;
    press_enter(&client, "#text").await;
    let answer = wait_for(
        &client,
        "a bot answer in the frame",
        "const b = document.querySelector('#messages .msg[data-from=bot] .body'); \
         return b && b.textContent",
    )
    .await;
    assert!(
        answer
            .as_str()
            .unwrap()
            .contains("shop.example.com/account/orders"),
        "{answer}"
    );
    // Escape in the chat closes it, and the focus goes back to the button.
    client
        .find(Locator::Css("#text"))
        .await
        .unwrap()
        .send_keys(&char::from(Key::Escape).to_string())
        .await
        .unwrap();
    client.enter_parent_frame().await.unwrap();
    wait_for(
        &client,
        "the chat to close on Escape",
        "const b = document.getElementById('frontline-chat-button'); \
         return b.getAttribute('aria-expanded') === 'false' && document.activeElement === b && \
                document.getElementById('frontline-chat-frame').style.display === 'none'",
    )
    .await;
}

async fn journey(base: String, agent_token: String, customer: Client, agent: Client) {
    // The customer starts a chat and asks something the bot knows.
    customer.goto(&format!("{base}/chat")).await.unwrap();
    fill(&customer, "#name", "Dana").await;
    click(&customer, "#start").await;
    wait_for(
        &customer,
        "the chat to open",
        "return !document.getElementById('chat').hidden",
    )
    .await;
    fill(&customer, "#text", "where is my order").await;
    press_enter(&customer, "#text").await;
    wait_for(
        &customer,
        "a bot answer",
        "return document.querySelector('#messages .msg[data-from=bot]') !== null",
    )
    .await;
    let customers = wait_for(
        &customer,
        "the sent message to be confirmed",
        "return document.querySelector('#messages .msg.pending') === null && \
                document.querySelectorAll('#messages .msg[data-from=customer]').length",
    )
    .await;
    assert_eq!(
        customers,
        json!(1),
        "the customer's message shows once, not twice"
    );
    // The answer's web address is a real link that opens safely in a new tab.
    let link = wait_for(
        &customer,
        "the answer's link",
        "const a = document.querySelector('#messages .msg[data-from=bot] a'); \
         return a && [a.getAttribute('href'), a.target, a.rel].join(' ')",
    )
    .await;
    assert_eq!(
        link,
        json!("https://shop.example.com/account/orders _blank noopener noreferrer nofollow")
    );

    // Asking for a person opens a ticket, and the page says which.
    fill(&customer, "#text", "I want to talk to a person").await;
    click(&customer, "#send").await;
    let ticket = wait_for(
        &customer,
        "the ticket number",
        "const m = document.getElementById('messages').textContent.match(/ticket #(\\d+)/); return m && m[1]",
    )
    .await;
    let ticket = ticket.as_str().unwrap().to_string();

    // The agent signs in, finds the ticket in the queue and opens it with its context.
    agent.goto(&format!("{base}/agent")).await.unwrap();
    fill(&agent, "#token", &agent_token).await;
    click(&agent, "#signin").await;
    let row = format!(".ticket-row[data-id='{ticket}']");
    wait_for(
        &agent,
        "the ticket in the queue",
        &format!("return document.querySelector(\"{row}\") !== null"),
    )
    .await;
    // The server's clock stands at the test's start date, long before the browser's: the waiting
    // ticket is past its 15-minute claim target, and the row says so.
    let badge = agent
        .execute(
            &format!("return document.querySelector(\"{row} .badge.late\")?.textContent"),
            vec![],
        )
        .await
        .unwrap();
    assert!(
        badge
            .as_str()
            .is_some_and(|b| b.ends_with("min past target")),
        "{badge}"
    );
    click(&agent, &row).await;
    wait_for(
        &agent,
        "the transcript",
        "return document.getElementById('transcript').textContent.includes('I want to talk to a person')",
    )
    .await;

    // Claim, then reply: the customer sees the reply, with the agent's name.
    click(&agent, "#claim").await;
    wait_for(
        &agent,
        "the claim",
        "return document.getElementById('fields').textContent.includes('alice')",
    )
    .await;
    // A new action: the agent makes the ticket urgent, and the queue row says so.
    agent
        .execute(
            "document.getElementById('priority').value = 'urgent'",
            vec![],
        )
        .await
        .unwrap();
    click(&agent, "#set-priority").await;
    wait_for(
        &agent,
        "the urgent badge in the queue",
        &format!(
            "const b = document.querySelector(\"{row} .badge.prio-urgent\"); return b && b.textContent === 'urgent'"
        ),
    )
    .await;
    wait_for(
        &agent,
        "the priority in the ticket's fields",
        "return document.getElementById('fields').textContent.includes('urgent')",
    )
    .await;

    fill(&agent, "#reply-text", "Hi, I'm on it").await;
    click(&agent, "#reply").await;
    let reply = wait_for(
        &customer,
        "the agent's reply",
        "const m = [...document.querySelectorAll('#messages .msg[data-from=agent]')] \
             .find(e => e.textContent.includes(\"Hi, I'm on it\")); return m && m.textContent",
    )
    .await;
    assert!(
        reply.as_str().unwrap().contains("alice"),
        "the reply names its agent: {reply}"
    );

    // An internal note shows, marked, in the console only.
    fill(&agent, "#reply-text", "NOTE: customer sounded upset").await;
    click(&agent, "#note").await;
    let note = wait_for(
        &agent,
        "the note in the transcript",
        "const m = [...document.querySelectorAll('#transcript .msg[data-from=note]')] \
             .find(e => e.textContent.includes('customer sounded upset')); return m && m.textContent",
    )
    .await;
    assert!(
        note.as_str()
            .unwrap()
            .to_lowercase()
            .contains("internal note"),
        "notes are labelled: {note}"
    );

    // Close: the customer is thanked and asked for a rating; the note never reached them.
    fill(&agent, "#close-reason", "answered").await;
    click(&agent, "#close").await;
    wait_for(
        &customer,
        "the rating request",
        "return [...document.querySelectorAll('#messages .msg')].some(e => /How did we do\\?/.test(e.textContent))",
    )
    .await;
    let leaked = customer
        .execute(
            "return document.getElementById('messages').textContent.includes('customer sounded upset') || \
                    document.querySelector('#messages [data-from=note]') !== null",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        leaked,
        json!(false),
        "an internal note reached the customer's page"
    );

    // The rating request offers buttons 1 to 5; pressing one rates as typing it would.
    let labels = wait_for(
        &customer,
        "the rating buttons",
        "const b = [...document.querySelectorAll('#messages .choices button')]; \
         return b.length && b.map(x => x.textContent).join(',')",
    )
    .await;
    assert_eq!(labels, json!("1,2,3,4,5"));
    click(&customer, "#messages .choices button[data-value='5']").await;
    wait_for(
        &customer,
        "the thanks for the rating",
        "return [...document.querySelectorAll('#messages .msg[data-from=bot]')].some(e => /Thank you for your rating/.test(e.textContent))",
    )
    .await;

    // The console's report counts this conversation: one answer, one hand-over, one ticket.
    click(&agent, "#report-box summary").await;
    let figures = wait_for(
        &agent,
        "the report",
        "const t = document.getElementById('report').textContent; \
             return t.includes('Tickets') && t",
    )
    .await;
    let figures = figures.as_str().unwrap();
    assert!(
        figures.contains("1 of 2 (50%)") && figures.contains("1 opened, 1 resolved"),
        "{figures}"
    );
    // The figures are drawn as inline SVG charts: one 5-star rating among the bars.
    let bars = wait_for(
        &agent,
        "the rating chart",
        "const r = [...document.querySelectorAll('#chart-ratings svg rect')]; \
         return r.length === 5 && r.map(e => e.getAttribute('height') > 0 ? 1 : 0).join('')",
    )
    .await;
    assert_eq!(bars, json!("00001"));
}

/// Polls `script` (a function body) until it returns something truthy; returns that value.
async fn wait_for(client: &Client, what: &str, script: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    loop {
        let last = match client.execute(script, vec![]).await {
            Ok(v) if truthy(&v) => return v,
            Ok(v) => format!("last result: {v}"),
            Err(e) => format!("last error: {e}"),
        };
        if Instant::now() > deadline {
            let page = client
                .execute("return document.body.innerText", vec![])
                .await
                .map(|v| v.as_str().unwrap_or_default().to_string())
                .unwrap_or_default();
            panic!("timed out waiting for {what} ({last}); the page reads:\n{page}");
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        _ => true,
    }
}

async fn fill(client: &Client, css: &str, text: &str) {
    let field = client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    field.clear().await.unwrap();
    field.send_keys(text).await.unwrap();
}

async fn click(client: &Client, css: &str) {
    client
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("could not click {css}: {e}"));
}

async fn press_enter(client: &Client, css: &str) {
    let field = client.find(Locator::Css(css)).await.unwrap();
    field
        .send_keys(&char::from(Key::Enter).to_string())
        .await
        .unwrap();
}

fn on_path(binary: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(binary))
        .find(|p| p.is_file())
}

/// A chromedriver process on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    async fn start(binary: &Path) -> Driver {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(binary)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(resp) = http.get(format!("{}/status", driver.url)).send().await {
                if resp.status().is_success() {
                    return driver;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not answer on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One headless Chromium with a fresh profile.
struct Browser {
    client: Client,
    profile: PathBuf,
}

impl Browser {
    async fn open(driver: &Driver, name: &str) -> Browser {
        let profile =
            std::env::temp_dir().join(format!("frontline-chrome-{name}-{}", unique_suffix()));
        std::fs::create_dir_all(&profile).unwrap();
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert(
            "goog:chromeOptions".into(),
            json!({ "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1200,900", format!("--user-data-dir={}", profile.display()),
            ] }),
        );
        let client = ClientBuilder::new(HttpConnector::new())
            .capabilities(caps)
            .connect(&driver.url)
            .await
            .unwrap_or_else(|e| panic!("could not start Chromium through chromedriver: {e}"));
        Browser { client, profile }
    }

    /// Saves a screenshot, ends the session and removes the profile.
    async fn close(self, screenshot: &Path) {
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::create_dir_all(screenshot.parent().unwrap());
            let _ = std::fs::write(screenshot, png);
        }
        let _ = self.client.close().await;
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

fn unique_suffix() -> String {
    format!(
        "{}-{}",
        std::process::id(),
        &frontline::core::agent::new_token()[..10]
    )
}
