//! State isolation (issue "Hardening"): the module's per-request result never leaks from
//! one request into another that shares its connection.
//!
//! nginx runs with a protected location that proxies to an echo of `X-User-ID` (set from
//! `$jwt_claim_sub`); a refused request is answered by `@denied` with `$auth_jwt_status`
//! and `$jwt_claim_sub`. Valid tokens of different users, the same tokens with a tampered
//! signature, a spliced token, an expired one and no token at all are mixed:
//!
//! - over ONE HTTP/1.1 keep-alive connection, one request after the other and then
//!   pipelined (all requests written before the first response is read);
//! - over ONE HTTP/2 connection with many concurrent streams (`curl --parallel`, which
//!   multiplexes on one connection; each URL carries its own token in `?token=`).
//!
//! Every response must match its own request: 200 with its own `sub`, or 401 with its
//! own status word and no `sub`, never the previous request's result. `$connection` in
//! every answer proves that the connection was shared.
//!
//! nginx: `$AUTH_JWT_NGINX`, else the vendored nginx that `cargo build -p
//! ngx_http_auth_jwt_module` builds. Module: `$AUTH_JWT_MODULE`, else
//! `target/<profile>/libngx_http_auth_jwt_module.so`. For Debian's nginx:
//! `AUTH_JWT_NGINX=/usr/sbin/nginx AUTH_JWT_MODULE=$PWD/target/nginx-1.22.1/ngx_http_auth_jwt_module.so
//! cargo test -p auth-jwt-integration --test state_isolation`.

use std::fs;
use std::io::BufReader;
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_jwt_core::sign::{encode, SigningKey};
use auth_jwt_integration::client;
use auth_jwt_integration::http::Response;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::{X509Builder, X509NameBuilder};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------
// nginx with the module (tests/common), on free ports, stopped and checked when dropped.

mod common;

/// A self-signed P-256 certificate and its key, as PEM.
fn self_signed() -> (Vec<u8>, Vec<u8>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, "localhost")
        .unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    b.set_serial_number(&BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap())
        .unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (
        b.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

/// The nginx under test: `plain` is HTTP/1.1, `tls` HTTPS with HTTP/2 (ALPN).
struct Iso {
    nginx: common::Nginx,
    plain: u16,
    tls: u16,
}

impl std::ops::Deref for Iso {
    type Target = common::Nginx;
    fn deref(&self) -> &common::Nginx {
        &self.nginx
    }
}

impl Iso {
    /// Starts nginx; `public_pem` is the key of `auth_jwt_key_file`.
    fn start(tag: &str, public_pem: &[u8]) -> Iso {
        let (cert, key) = self_signed();
        let files: [(&str, &[u8]); 3] = [
            ("jwt.pub", public_pem),
            ("cert.pem", &cert),
            ("cert.key", &key),
        ];
        let nginx = common::Nginx::start(&format!("isolation-{tag}"), &files, 3, |dir, ports| {
            let p = dir.display();
            let (plain, tls, echo) = (ports[0], ports[1], ports[2]);
            // The protected locations differ only in where the token comes from.
            let protected = |path: &str, source: &str| {
                format!(
                    "location {path} {{\n\
                       auth_jwt \"iso\"{source};\n\
                       auth_jwt_key_file {p}/jwt.pub;\n\
                       error_page 401 = @denied;\n\
                       proxy_set_header X-User-ID $jwt_claim_sub;\n\
                       proxy_set_header X-Front-Conn $connection;\n\
                       proxy_pass http://127.0.0.1:{echo};\n\
                     }}\n"
                )
            };
            format!(
                "server {{\n\
                   listen 127.0.0.1:{echo};\n\
                   location / {{ return 200 \"user=$http_x_user_id front=$http_x_front_conn i=$arg_i\\n\"; }}\n\
                 }}\n\
                 server {{\n\
                   listen 127.0.0.1:{plain};\n\
                   listen 127.0.0.1:{tls} ssl http2;\n\
                   ssl_certificate {p}/cert.pem;\n\
                   ssl_certificate_key {p}/cert.key;\n\
                   keepalive_requests 100000;\n\
                   location @denied {{\n\
                     return 401 \"denied=$auth_jwt_status user=$jwt_claim_sub front=$connection i=$arg_i\\n\";\n\
                   }}\n\
                   {h1}{h2}\
                 }}\n",
                h1 = protected("/h1/", ""),
                h2 = protected("/h2/", " token=$arg_token"),
            )
        });
        let (plain, tls) = (nginx.ports[0], nginx.ports[1]);
        Iso { nginx, plain, tls }
    }

    fn finish(self) {
        self.nginx.finish();
    }
}

// ---------------------------------------------------------------------------------------
// Tokens and expectations.

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[derive(Clone)]
struct Case {
    token: Option<String>,
    /// `Ok(sub)` for a 200, `Err(status word)` for a 401.
    want: Result<&'static str, &'static str>,
}

/// Valid tokens of three users, each also with one signature bit flipped, one spliced
/// token (bob's header and payload with alice's signature), an expired token and no token.
fn cases(key: &PKey<Private>) -> Vec<Case> {
    let key = SigningKey::Pkey(key.clone());
    let mint = |sub: &str, exp: i64| {
        encode(
            "ES256",
            &Value::Null,
            &json!({"sub": sub, "exp": exp}),
            &key,
        )
        .unwrap()
    };
    let tamper = |token: &str| {
        let (input, sig) = token.rsplit_once('.').unwrap();
        let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
        sig[20] ^= 0x01;
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    };
    let later = now() + 3600;
    let mut cases = Vec::new();
    for sub in ["alice", "bob", "carol"] {
        let token = mint(sub, later);
        cases.push(Case {
            token: Some(tamper(&token)),
            want: Err("bad_signature"),
        });
        cases.push(Case {
            token: Some(token),
            want: Ok(sub),
        });
    }
    let alice = cases[1].token.clone().unwrap();
    let bob = cases[3].token.clone().unwrap();
    let spliced = format!(
        "{}.{}",
        bob.rsplit_once('.').unwrap().0,
        alice.rsplit_once('.').unwrap().1
    );
    cases.push(Case {
        token: Some(spliced),
        want: Err("bad_signature"),
    });
    cases.push(Case {
        token: Some(mint("dave", now() - 3600)),
        want: Err("expired"),
    });
    cases.push(Case {
        token: None,
        want: Err("missing"),
    });
    cases
}

/// `n` cases in a fixed pseudo-random order (xorshift), so that every kind of case
/// follows every other kind somewhere in the sequence.
fn sequence(cases: &[Case], n: usize) -> Vec<Case> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            cases[(x % cases.len() as u64) as usize].clone()
        })
        .collect()
}

/// The body the request with index `i` must get; `conn` is nginx's `$connection`.
fn expected_body(case: &Case, i: usize, conn: &str) -> (u16, String) {
    match case.want {
        Ok(sub) => (200, format!("user={sub} front={conn} i={i}\n")),
        Err(word) => (401, format!("denied={word} user= front={conn} i={i}\n")),
    }
}

/// `front=N` of a body.
fn front_conn(body: &str) -> String {
    body.split(' ')
        .find_map(|w| w.strip_prefix("front="))
        .unwrap_or_else(|| panic!("no front= in {body:?}"))
        .to_owned()
}

fn ec_key() -> PKey<Private> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------
// Tests.

/// One HTTP/1.1 keep-alive connection: 150 requests one after the other, then 60 more
/// pipelined. A client-sent `X-User-ID` never gets through either.
#[test]
fn http1_keep_alive_requests_never_see_each_others_result() {
    let key = ec_key();
    let nginx = Iso::start("h1", &key.public_key_to_pem().unwrap());
    let all = cases(&key);
    let seq = sequence(&all, 210);
    let headers = |case: &Case| -> Vec<(String, String)> {
        let mut h = vec![
            ("Host".to_owned(), "localhost".to_owned()),
            ("X-User-ID".to_owned(), "spoofed".to_owned()),
        ];
        if let Some(t) = &case.token {
            h.push(("Authorization".to_owned(), format!("Bearer {t}")));
        }
        h
    };
    let tcp = TcpStream::connect(("127.0.0.1", nginx.plain)).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut conn = BufReader::new(tcp);
    let mut front: Option<String> = None;
    let mut check = |i: usize, case: &Case, r: Response| {
        let body = r.text();
        let conn_id = front.get_or_insert_with(|| front_conn(&body)).clone();
        let (status, want) = expected_body(case, i, &conn_id);
        assert_eq!(
            (r.status(), body.as_str()),
            (status, want.as_str()),
            "request {i}"
        );
        assert_ne!(
            r.header("connection"),
            Some("close"),
            "request {i}: connection closed"
        );
    };

    let (one_by_one, pipelined) = seq.split_at(150);
    for (i, case) in one_by_one.iter().enumerate() {
        let h = headers(case);
        let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let r = client::request(&mut conn, "GET", &format!("/h1/?i={i}"), &h, None)
            .unwrap_or_else(|e| panic!("request {i}: {e}\n{}", nginx.logs()));
        check(i, case, r);
    }
    for (j, case) in pipelined.iter().enumerate() {
        let h = headers(case);
        let h: Vec<(&str, &str)> = h.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
        let i = 150 + j;
        client::write_request(conn.get_mut(), "GET", &format!("/h1/?i={i}"), &h, None).unwrap();
    }
    for (j, case) in pipelined.iter().enumerate() {
        let i = 150 + j;
        let r = Response::read(&mut conn, "GET")
            .unwrap_or_else(|e| panic!("pipelined request {i}: {e}\n{}", nginx.logs()));
        check(i, case, r);
    }
    drop(conn);
    nginx.finish();
}

/// One HTTP/2 connection, 240 streams, up to 50 at a time (`curl --parallel`), each with
/// its own token in `?token=`: every stream gets its own result, and curl connected once.
#[test]
fn http2_streams_never_see_each_others_result() {
    let curl_ok = Command::new("curl")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("HTTP2"))
        .unwrap_or(false);
    assert!(
        curl_ok,
        "this test needs the curl CLI with HTTP/2 (Debian: apt-get install curl)"
    );
    let key = ec_key();
    let nginx = Iso::start("h2", &key.public_key_to_pem().unwrap());
    let all = cases(&key);
    let seq = sequence(&all, 240);

    // One url/output pair per stream in a curl config file (the tokens make the command
    // line long).
    let out = nginx.dir.join("h2");
    fs::create_dir_all(&out).unwrap();
    let mut config = String::new();
    for (i, case) in seq.iter().enumerate() {
        let token = case
            .token
            .as_deref()
            .map(|t| format!("&token={t}"))
            .unwrap_or_default();
        config.push_str(&format!(
            "url = \"https://127.0.0.1:{}/h2/?i={i}{token}\"\noutput = \"{}/{i}\"\n",
            nginx.tls,
            out.display()
        ));
    }
    fs::write(nginx.dir.join("curl.cfg"), config).unwrap();
    let run = Command::new("curl")
        .args(["-s", "-k", "--http2", "--parallel", "--parallel-max", "50"])
        .args(["--max-time", "60", "-H", "X-User-ID: spoofed"])
        .args([
            "-w",
            "%{http_version} %{http_code} %{num_connects} %{url_effective}\\n",
        ])
        .arg("-K")
        .arg(nginx.dir.join("curl.cfg"))
        .output()
        .expect("run curl");
    let report = String::from_utf8_lossy(&run.stdout).into_owned();

    let mut connects = 0;
    let mut codes = vec![None; seq.len()];
    for line in report.lines() {
        let mut f = line.splitn(4, ' ');
        let (version, code, n, url) = (f.next(), f.next(), f.next(), f.next());
        assert_eq!(version, Some("2"), "not HTTP/2: {line}");
        connects += n.unwrap().parse::<u32>().unwrap();
        let i: usize = url
            .and_then(|u| u.split(['?', '&']).find_map(|p| p.strip_prefix("i=")))
            .and_then(|i| i.parse().ok())
            .unwrap_or_else(|| panic!("no i= in {line}"));
        codes[i] = code.and_then(|c| c.parse::<u16>().ok());
    }
    assert_eq!(
        connects, 1,
        "curl opened more than one connection:\n{report}"
    );

    let mut front: Option<String> = None;
    for (i, case) in seq.iter().enumerate() {
        let body = fs::read_to_string(out.join(i.to_string()))
            .unwrap_or_else(|e| panic!("stream {i}: no body ({e})\n{report}\n{}", nginx.logs()));
        let conn_id = front.get_or_insert_with(|| front_conn(&body)).clone();
        let (status, want) = expected_body(case, i, &conn_id);
        assert_eq!(
            (codes[i], body.as_str()),
            (Some(status), want.as_str()),
            "stream {i}"
        );
    }
    nginx.finish();
}
