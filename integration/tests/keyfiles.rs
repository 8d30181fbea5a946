//! `auth_jwt_key_file` with variables: a worker parses a file once, and re-reads it when the
//! file changes (key rotation without a reload).

mod common;

use std::io::BufReader;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_integration::client;
use serde_json::json;

fn jwks(secret: &[u8]) -> String {
    use base64::Engine as _;
    let k = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(secret);
    format!(r#"{{"keys":[{{"kty":"oct","k":"{k}"}}]}}"#)
}

fn status(conn: &mut BufReader<TcpStream>, tenant: &str, token: &str) -> (u16, String) {
    let auth = format!("Bearer {token}");
    let r = client::request(
        conn,
        "GET",
        "/",
        &[
            ("Host", "localhost"),
            ("X-Tenant", tenant),
            ("Authorization", &auth),
        ],
        None,
    )
    .unwrap();
    (r.status(), r.header("x-status").unwrap_or("").to_owned())
}

#[test]
fn a_changed_key_file_is_picked_up_without_reload() {
    let a = b"keyfiles-secret-a-0123456789abcd";
    let b = b"keyfiles-secret-b-0123456789abcd";
    let jwks_a = jwks(a);
    let files: [(&str, &[u8]); 1] = [("tenant-x.jwks", jwks_a.as_bytes())];
    let nginx = common::Nginx::start("keyfiles", &files, 1, |dir, ports| {
        format!(
            "server {{\n\
               listen 127.0.0.1:{port};\n\
               keepalive_requests 100000;\n\
               location / {{\n\
                 auth_jwt \"kf\";\n\
                 auth_jwt_key_file {p}/tenant-$http_x_tenant.jwks;\n\
                 add_header X-Status $auth_jwt_status always;\n\
                 empty_gif;\n\
               }}\n\
             }}",
            port = ports[0],
            p = dir.display(),
        )
    });
    let ta = encode(
        "HS256",
        &json!({}),
        &json!({"sub": "a"}),
        &SigningKey::hmac(a),
    )
    .unwrap();
    let tb = encode(
        "HS256",
        &json!({}),
        &json!({"sub": "b"}),
        &SigningKey::hmac(b),
    )
    .unwrap();
    let mut c = BufReader::new(TcpStream::connect(("127.0.0.1", nginx.ports[0])).unwrap());
    assert_eq!(status(&mut c, "x", &ta), (200, "valid".into()));
    assert_eq!(status(&mut c, "x", &tb), (401, "bad_signature".into()));

    // Rotate the tenant's key in place; within a couple of seconds the worker notices.
    std::fs::write(nginx.dir.join("tenant-x.jwks"), jwks(b)).unwrap();
    let mut rotated = false;
    for _ in 0..40 {
        thread::sleep(Duration::from_millis(100));
        if status(&mut c, "x", &tb).0 == 200 {
            rotated = true;
            break;
        }
    }
    assert!(
        rotated,
        "the new key file was not picked up:\n{}",
        nginx.logs()
    );
    assert_eq!(status(&mut c, "x", &ta), (401, "bad_signature".into()));

    // A tenant without a file: 500, never a pass.
    assert_eq!(status(&mut c, "nobody", &ta).0, 500);
    drop(c);
    nginx.finish();
}
