//! A worker killed with SIGKILL while it holds a lock of the verdict zone does not leave the
//! zone locked. Lookups take no lock; an insert locks the one set of the table it writes, with
//! its process id in the set's lock word. The killed worker leaves that set locked (its
//! lookups report busy, `$auth_jwt_cache_status` `BUSY`, and the token is verified); the next
//! insert into it sees that the holder is dead, takes the set over (dropping its entries, which
//! the dead writer may have left half-written) and says so in the error log. Other sets never
//! notice.
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

/// The zone's counters (`$auth_jwt_cache_stats`).
fn stats(port: u16) -> String {
    let mut c = BufReader::new(TcpStream::connect(("127.0.0.1", port)).unwrap());
    let r = client::request(
        &mut c,
        "GET",
        "/stats",
        &[("Host", "localhost"), ("Connection", "close")],
        None,
    )
    .unwrap();
    assert_eq!(r.status(), 200);
    String::from_utf8_lossy(&r.body).into_owned()
}

#[test]
#[ignore = "needs the fault-injection build of the module: scripts/test --panic runs it"]
fn a_worker_killed_while_holding_a_set_lock_does_not_leave_it_locked() {
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
                   location = /stats {{ return 200 \"$auth_jwt_cache_stats\"; }}\n\
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

    // The next insert kills the worker while it holds the lock of the token's set. (The
    // worker runs as an unprivileged user when the test runs as root: it must be able to
    // remove the trigger.)
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&nginx.dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    }
    std::fs::write(trigger(&nginx.dir), b"").unwrap();
    let carol = token("carol");
    assert_eq!(
        ask(port, &carol),
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
    // ...whose lookups in other sets never notice: a stored verdict is a HIT.
    assert_eq!(
        ask(port, &alice),
        Some((200, "[HIT]".into())),
        "{}",
        nginx.logs()
    );
    // The locked set: the lookup gives up (BUSY, the token verified), and the insert that
    // follows finds the holder dead and takes the set over; from then on it is a HIT.
    assert_eq!(ask(port, &carol), Some((200, "[BUSY]".into())));
    assert_eq!(ask(port, &carol), Some((200, "[HIT]".into())));
    let bob = token("bob");
    assert_eq!(ask(port, &bob), Some((200, "[MISS]".into())));
    for _ in 0..10 {
        assert_eq!(ask(port, &bob), Some((200, "[HIT]".into())));
        assert_eq!(ask(port, &carol), Some((200, "[HIT]".into())));
    }
    // The counters tell it too (the dead worker's MISS of carol was counted before it died).
    assert_eq!(
        stats(port),
        "hits=23 misses=3 inserts=3 busy=1 skipped=0 recovered=1"
    );
    // The module says what happened: the worker died holding a set, which was taken over.
    let logs = nginx.logs();
    assert!(logs.contains("exited on signal 9"), "{logs}");
    let took_over = format!(
        "auth_jwt_cache: zone \"faultlock\": took over a set left locked by process {}, which \
         exited",
        before[0]
    );
    assert!(logs.contains(&took_over), "{logs}");
    nginx.finish_expecting(&["exited on signal 9"]);
}
