//! A worker killed with SIGKILL while it holds the verdict zone's mutex does not leave the
//! zone locked: nginx's master force-unlocks a shared-memory mutex held by a dead worker
//! (`ngx_unlock_mutexes`), and the zone's lock is nginx's own `ngx_shmtx_t`, so after the
//! master starts a new worker, requests hit the cache again.
//!
//! It needs the module built with the TEST-ONLY `fault-injection` feature (the worker kills
//! itself inside the lock when a trigger file exists), so it is `#[ignore]`d in a plain
//! `cargo test` and run by `scripts/test --panic` (AUTH_JWT_MODULE = the fault build,
//! `-- --ignored`). Run with any other build, it fails: the worker does not die.

mod common;

use std::io::BufReader;
use std::net::TcpStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_integration::client;
use serde_json::json;

const SECRET: &[u8] = b"fault-lock-secret-0123456789abcdef";

fn worker_pids(master: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{master}/task/{master}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

/// (status, X-Cache) of one request on a new connection; `None` when the connection failed.
fn ask(port: u16, token: &str) -> Option<(u16, String)> {
    let mut c = BufReader::new(TcpStream::connect(("127.0.0.1", port)).ok()?);
    let auth = format!("Bearer {token}");
    let r = client::request(
        &mut c,
        "GET",
        "/",
        &[
            ("Host", "localhost"),
            ("Authorization", &auth),
            ("Connection", "close"),
        ],
        None,
    )
    .ok()?;
    Some((r.status(), r.header("x-cache").unwrap_or("").to_owned()))
}

#[test]
#[ignore = "needs the fault-injection build of the module: scripts/test --panic runs it"]
fn a_worker_killed_while_holding_the_zone_lock_does_not_leave_it_locked() {
    use base64::Engine as _;
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(SECRET);
    let keys = format!(r#"{{"keys":[{{"kty":"oct","k":"{k}"}}]}}"#);
    let files: [(&str, &[u8]); 1] = [("keys.jwks", keys.as_bytes())];
    let trigger = |dir: &Path| dir.join("die-in-cache-lock");
    let nginx = common::Nginx::start_full(
        "fault-lock",
        &files,
        1,
        1,
        |dir| {
            format!(
                "env AUTH_JWT_FAULT_DIE_IN_CACHE_LOCK={};",
                trigger(dir).display()
            )
        },
        |dir, ports| {
            format!(
                "auth_jwt_cache zone=faultlock:1m;\n\
                 server {{\n\
                   listen 127.0.0.1:{port};\n\
                   location / {{\n\
                     auth_jwt \"f\";\n\
                     auth_jwt_key_file {p}/keys.jwks;\n\
                     add_header X-Cache \"[$auth_jwt_cache_status]\" always;\n\
                     empty_gif;\n\
                   }}\n\
                 }}",
                port = ports[0],
                p = dir.display(),
            )
        },
    );
    let port = nginx.ports[0];
    let master = nginx.pid();
    let token = |sub: &str| {
        encode(
            "HS256",
            &json!({}),
            &json!({"sub": sub}),
            &SigningKey::hmac(SECRET),
        )
        .unwrap()
    };
    let alice = token("alice");
    assert_eq!(
        ask(port, &alice),
        Some((200, "[MISS]".into())),
        "{}",
        nginx.logs()
    );
    assert_eq!(ask(port, &alice), Some((200, "[HIT]".into())));
    let before = worker_pids(master);
    assert_eq!(before.len(), 1, "one worker: {before:?}");

    // The next lookup of the zone kills the worker with the zone's mutex held. (The worker
    // runs as an unprivileged user when the test runs as root: it must be able to remove the
    // trigger.)
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&nginx.dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::fs::write(trigger(&nginx.dir), b"").unwrap();
    assert_eq!(
        ask(port, &alice),
        None,
        "the worker answered: not the fault build?"
    );
    assert!(!trigger(&nginx.dir).exists());

    // The master starts a new worker...
    let start = Instant::now();
    let after = loop {
        let now = worker_pids(master);
        if now.len() == 1 && now != before {
            break now;
        }
        assert!(start.elapsed() < Duration::from_secs(10), "no new worker");
        thread::sleep(Duration::from_millis(50));
    };
    assert_ne!(after, before);
    // ...whose cache lookups find the zone unlocked: a stored verdict is a HIT, a new token
    // is stored (MISS) and then found (HIT). A zone left locked would answer MISS forever.
    assert_eq!(
        ask(port, &alice),
        Some((200, "[HIT]".into())),
        "{}",
        nginx.logs()
    );
    let bob = token("bob");
    assert_eq!(ask(port, &bob), Some((200, "[MISS]".into())));
    for _ in 0..10 {
        assert_eq!(ask(port, &bob), Some((200, "[HIT]".into())));
    }
    // nginx says what happened: the worker died and held the zone's mutex, which the master
    // released.
    let logs = nginx.logs();
    assert!(logs.contains("exited on signal 9"), "{logs}");
    assert!(
        logs.contains("shared memory zone \"faultlock\" was locked by"),
        "{logs}"
    );
    nginx.finish_expecting(&[
        "exited on signal 9",
        "shared memory zone \"faultlock\" was locked by",
    ]);
}
