//! The event stream on the real NATS server of these machines (127.0.0.1:4222, JetStream on):
//! every committed event once, in commit order, on its workspace's and type's subject, with the
//! event id as the message id; after kill -9 the publisher resumes from the last acknowledged
//! event and JetStream holds each event exactly once.

use std::process::Stdio;
use std::time::{Duration, Instant};

use async_nats::jetstream;
use host::integrations::stream::StreamTarget;
use serde_json::{Value, json};
use uuid::Uuid;

use crate::restart::{admin_token, create_batch, start_with};
use crate::support::{Backend, TestApp};

const NATS: &str = "nats://127.0.0.1:4222";

/// A stream of this test's own (its subjects overlap no other test's).
fn target() -> StreamTarget {
    StreamTarget {
        url: NATS.to_owned(),
        prefix: format!("kithtest{}", Uuid::now_v7().simple()),
    }
}

async fn context() -> jetstream::Context {
    let client = async_nats::connect(NATS)
        .await
        .expect("the NATS server at 127.0.0.1:4222");
    jetstream::new(client)
}

/// The stream's messages once it holds `n` (waiting up to 60 s), in stream order.
async fn messages(
    js: &jetstream::Context,
    target: &StreamTarget,
    n: u64,
) -> Vec<jetstream::message::StreamMessage> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut stream = loop {
        match js.get_stream(target.stream_name()).await {
            Ok(stream) => break stream,
            Err(_) if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await
            }
            Err(error) => panic!("the stream was not created: {error}"),
        }
    };
    loop {
        let held = stream.info().await.expect("stream info").state.messages;
        if held >= n || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let held = stream.info().await.expect("stream info").state.messages;
    let mut out = Vec::new();
    for seq in 1..=held {
        out.push(stream.get_raw_message(seq).await.expect("a message"));
    }
    out
}

fn message_id(message: &jetstream::message::StreamMessage) -> String {
    message
        .headers
        .get("Nats-Msg-Id")
        .map(|v| v.to_string())
        .unwrap_or_default()
}

async fn events_reach_the_stream_once_each_in_order(backend: Backend) {
    let target = target();
    let Some(app) = TestApp::spawn_with(backend, Some(target.clone())).await else {
        return;
    };
    let js = context().await;
    let ada = app
        .create("contacts", json!({"last_name": "Lovelace"}))
        .await;
    let acme = app.create("companies", json!({"name": "Acme"})).await;
    let path = format!("/api/v1/contacts/{}", ada["id"].as_str().expect("id"));
    app.patch(&path, &json!({"first_name": "Ada"}), None).await;
    app.delete(&path).await;
    // Another workspace's event goes on its own subject.
    let globex = app.user("globex", "admin@globex.test", "admin").await;
    app.request(
        reqwest::Method::POST,
        "/api/v1/contacts",
        Some(&json!({"last_name": "Globex"})),
        Some(&globex),
        &[],
    )
    .await;

    let got = messages(&js, &target, 5).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = messages(&js, &target, 5).await;
    assert_eq!(
        got.len(),
        5,
        "{:?}",
        got.iter()
            .map(|m| m.subject.to_string())
            .collect::<Vec<_>>()
    );
    assert_eq!(again.len(), 5, "nothing more arrives");
    let bodies: Vec<Value> = got
        .iter()
        .map(|m| serde_json::from_slice(&m.payload).expect("JSON"))
        .collect();
    let workspace = bodies[0]["workspace_id"]
        .as_str()
        .expect("workspace")
        .to_owned();
    let subjects: Vec<String> = got.iter().map(|m| m.subject.to_string()).collect();
    let p = &target.prefix;
    assert_eq!(
        subjects[..4],
        [
            format!("{p}.{workspace}.contact.created"),
            format!("{p}.{workspace}.company.created"),
            format!("{p}.{workspace}.contact.updated"),
            format!("{p}.{workspace}.contact.deleted"),
        ]
    );
    assert!(subjects[4].ends_with(".contact.created") && !subjects[4].contains(&workspace));
    assert_eq!(bodies[1]["data"]["id"], acme["id"]);
    let mut seqs = Vec::new();
    for (message, body) in got.iter().zip(&bodies) {
        assert_eq!(message_id(message), body["id"].as_str().expect("id"));
        let seq: i64 = body["id"].as_str().expect("id")["evt_".len()..]
            .parse()
            .expect("seq");
        seqs.push(seq);
    }
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "commit order: {seqs:?}"
    );
    js.delete_stream(target.stream_name())
        .await
        .expect("delete the stream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_stream_once_each_in_order_sqlite() {
    events_reach_the_stream_once_each_in_order(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_stream_once_each_in_order_postgres() {
    events_reach_the_stream_once_each_in_order(Backend::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publishing_resumes_after_kill_9_without_loss_or_repeats() {
    let target = target();
    let dir = std::env::temp_dir().join(format!("kith-stream-{}", Uuid::now_v7().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let data_dir = dir.to_string_lossy().into_owned();
    let db = format!("sqlite://{}", dir.join("kith.db").display());
    let token = admin_token(&db, &data_dir);
    let args = [
        "--nats",
        NATS,
        "--nats-subject-prefix",
        target.prefix.as_str(),
    ];
    let client = reqwest::Client::new();
    let js = context().await;

    let mut server = start_with(&db, &data_dir, &args, Stdio::null()).await;
    create_batch(&client, &server, &token, 0).await;
    create_batch(&client, &server, &token, 1000).await;
    // Killed while publishing the second thousand.
    server.child.kill().expect("SIGKILL");
    server.child.wait().ok();
    let server = start_with(&db, &data_dir, &args, Stdio::null()).await;
    create_batch(&client, &server, &token, 2000).await;

    let got = messages(&js, &target, 3000).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = messages(&js, &target, 3000).await.len();
    drop(server);
    assert_eq!(got.len(), 3000, "each event once");
    assert_eq!(held, 3000, "nothing more arrives");
    let mut ids: Vec<String> = got.iter().map(message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 3000, "no id twice");
    js.delete_stream(target.stream_name())
        .await
        .expect("delete the stream");
    std::fs::remove_dir_all(&dir).ok();
}

/// Two servers on one database (replicas), both with the stream on and both taking writes:
/// the stream holds each event once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_publish_each_event_once() {
    let target = target();
    let dir = std::env::temp_dir().join(format!("kith-stream2-{}", Uuid::now_v7().simple()));
    let (one, two) = (dir.join("one"), dir.join("two"));
    std::fs::create_dir_all(&one).expect("dir");
    std::fs::create_dir_all(&two).expect("dir");
    let (one, two) = (
        one.to_string_lossy().into_owned(),
        two.to_string_lossy().into_owned(),
    );
    let db = format!("sqlite://{}", dir.join("kith.db").display());
    let token = admin_token(&db, &one);
    let args = [
        "--nats",
        NATS,
        "--nats-subject-prefix",
        target.prefix.as_str(),
    ];
    let client = reqwest::Client::new();
    let js = context().await;
    let first = start_with(&db, &one, &args, Stdio::null()).await;
    let second = start_with(&db, &two, &args, Stdio::null()).await;
    create_batch(&client, &first, &token, 0).await;
    create_batch(&client, &second, &token, 1000).await;
    let got = messages(&js, &target, 2000).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let held = messages(&js, &target, 2000).await.len();
    drop((first, second));
    assert_eq!(got.len(), 2000, "each event once");
    assert_eq!(held, 2000, "nothing more arrives");
    let mut ids: Vec<String> = got.iter().map(message_id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 2000, "no id twice");
    js.delete_stream(target.stream_name())
        .await
        .expect("delete the stream");
    std::fs::remove_dir_all(&dir).ok();
}
