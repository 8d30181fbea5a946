//! End-to-end tests of the Dify gateway: the shipped `nginx-conf/dify.conf` in a real nginx
//! (master + worker) with the module loaded, in front of the `dify-standin` backend, driven
//! over TLS (HTTP/1.1 by hand, HTTP/2 through the `curl` CLI) on 127.0.0.1.
//!
//! nginx: `$AUTH_JWT_NGINX`, else the vendored nginx that `cargo build -p
//! ngx_http_auth_jwt_module` builds (named by `target/<profile>/nginx-build-dir`).
//! Module: `$AUTH_JWT_MODULE`, else `target/<profile>/libngx_http_auth_jwt_module.so`.
//! `$AUTH_JWT_DEBIAN_MODULE` (set by scripts/test): a module built for `/usr/sbin/nginx`, with
//! which the shipped configurations are also checked by `nginx -t`.
//! `$AUTH_JWT_CONF_DIR`: take the configuration files from there instead of nginx-conf/.
//!
//! Most tests run `nginx-conf/dify.conf`; `external_auth_*` runs `dify-external-auth.conf`;
//! `shipped_configs_*` check every `nginx-conf/*.conf` with `nginx -t`.
//!
//! Every test starts its own processes on its own free ports under its own temporary
//! prefix, and every process is stopped and reaped when the fixture drops, panic or not.

mod common;

use common::{env_path, free_ports, module_path, nginx_bin};
use std::cell::RefCell;
use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use auth_jwt_core::sign::{encode, encode_raw, SigningKey};
use auth_jwt_core::{verify, KeySet, Validation};
use auth_jwt_integration::client::{self, ws_handshake};
use auth_jwt_integration::http::{self, Response, ResponseHead};
use auth_jwt_integration::sse::SseReader;
use auth_jwt_integration::{jwks, ws};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use openssl::asn1::Asn1Time;
use openssl::bn::BigNum;
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::ssl::{SslConnector, SslMethod, SslStream, SslVerifyMode};
use openssl::x509::extension::SubjectAlternativeName;
use openssl::x509::{X509Builder, X509NameBuilder};
use serde_json::{json, Value};

/// The public host name of the shipped configuration.
const HOST: &str = "dify.example.com";
/// The shipped configuration for Dify's own tokens.
const DIFY_CONF: &str = "dify.conf";
/// The shipped configuration for tokens of an external identity provider.
const EXTERNAL_AUTH_CONF: &str = "dify-external-auth.conf";
/// The key id, issuer and audience the external-auth tests use.
const IDP_KID: &str = "idp-2024";
const IDP_ISS: &str = "external-auth";
const IDP_AUD: &str = "dify-app";
/// The realm of the shipped configuration's `auth_jwt`.
const REALM: &str = "closed site";
/// The body of the shipped configuration's 401 page.
const JSON_401: &str = r#"{"error": "Invalid or missing token"}"#;
/// Socket read/write timeout: generous, the machine may be busy.
const IO_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a process may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest WebSocket frame the tests accept.
const MAX_FRAME: u64 = 1 << 24;

type Tls = BufReader<SslStream<TcpStream>>;

// ---------------------------------------------------------------------------------------
// Locating nginx, the module and the configuration files (nginx and the module: tests/common).

/// `$AUTH_JWT_CONF_DIR` (to try changed copies), else the repository's nginx-conf/.
fn conf_dir() -> PathBuf {
    env_path("AUTH_JWT_CONF_DIR")
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../nginx-conf"))
}

fn require_curl() {
    let ok = Command::new("curl")
        .arg("--version")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("HTTP2"))
        .unwrap_or(false);
    assert!(
        ok,
        "the HTTP/2 test needs the curl CLI with HTTP/2 support (Debian: apt-get install curl)"
    );
}

// ---------------------------------------------------------------------------------------
// Temporary directories, ports and processes.

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir().join(format!(
            "auth-jwt-e2e-{tag}-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        fs::create_dir_all(path.join("logs")).expect("create the temporary prefix");
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, data: impl AsRef<[u8]>) -> PathBuf {
        let p = self.file(name);
        fs::write(&p, data).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if thread::panicking() {
            eprintln!("test failed: keeping {} for inspection", self.0.display());
        } else {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process that is stopped and reaped when dropped: SIGQUIT first when `graceful`
/// (nginx's graceful shutdown), SIGKILL after 5 s or right away otherwise.
struct Proc {
    name: &'static str,
    child: Option<Child>,
    graceful: bool,
}

impl Proc {
    fn new(name: &'static str, child: Child, graceful: bool) -> Proc {
        Proc {
            name,
            child: Some(child),
            graceful,
        }
    }

    /// Whether the process has exited (reaping it if so).
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if self.graceful {
            // The shell's kill builtin: the process is our unreaped child, so its pid is ours.
            let _ = Command::new("sh")
                .arg("-c")
                .arg(format!("kill -QUIT {}", child.id()))
                .status();
            let deadline = Instant::now() + Duration::from_secs(5);
            while Instant::now() < deadline {
                match child.try_wait() {
                    Ok(Some(status)) => return Some(status),
                    Ok(None) => thread::sleep(Duration::from_millis(20)),
                    Err(_) => break,
                }
            }
            eprintln!(
                "{} did not stop within 5 s of SIGQUIT: killing it",
                self.name
            );
        }
        let _ = child.kill();
        child.wait().ok()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------------------
// Keys, certificates, tokens.

fn rsa_key() -> PKey<Private> {
    PKey::from_rsa(Rsa::generate(2048).expect("RSA keygen")).expect("PKey")
}

/// A self-signed certificate for `host` (EC P-256) and its key, as PEM.
fn self_signed(host: &str) -> (Vec<u8>, Vec<u8>) {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).unwrap();
    let key = PKey::from_ec_key(EcKey::generate(&group).unwrap()).unwrap();
    let mut name = X509NameBuilder::new().unwrap();
    name.append_entry_by_nid(Nid::COMMONNAME, host).unwrap();
    let name = name.build();
    let mut b = X509Builder::new().unwrap();
    b.set_version(2).unwrap();
    let serial = BigNum::from_u32(1).unwrap().to_asn1_integer().unwrap();
    b.set_serial_number(&serial).unwrap();
    b.set_subject_name(&name).unwrap();
    b.set_issuer_name(&name).unwrap();
    b.set_pubkey(&key).unwrap();
    b.set_not_before(&Asn1Time::days_from_now(0).unwrap())
        .unwrap();
    b.set_not_after(&Asn1Time::days_from_now(2).unwrap())
        .unwrap();
    let san = SubjectAlternativeName::new()
        .dns(host)
        .build(&b.x509v3_context(None, None))
        .unwrap();
    b.append_extension(san).unwrap();
    b.sign(&key, MessageDigest::sha256()).unwrap();
    (
        b.build().to_pem().unwrap(),
        key.private_key_to_pem_pkcs8().unwrap(),
    )
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The signature part of a token: if it shows up in a log, the token leaked.
fn signature_part(token: &str) -> &str {
    token.rsplit('.').next().unwrap_or("")
}

// ---------------------------------------------------------------------------------------
// Configuration.

/// Applies exact string substitutions. With `required`, each one must match at least once,
/// so a change in the shipped file breaks the test instead of silently testing less.
fn substitute(text: &str, subs: &[(&str, String)], required: bool, file: &str) -> String {
    let mut out = text.to_owned();
    for (from, to) in subs {
        let n = out.matches(from).count();
        assert!(
            !required || n > 0,
            "{file}: the placeholder {from:?} is gone: the configuration changed, update \
             integration/tests/e2e.rs (or the placeholder list in the file's header)"
        );
        out = out.replace(from, to);
    }
    out
}

/// The placeholders of `nginx-conf/dify.conf` (or `dify-external-auth.conf`, whose key file
/// is a JWKS) and what they become under `prefix`.
fn dify_substitutions(
    conf: &str,
    prefix: &Path,
    tls: u16,
    http: u16,
    backend: &str,
) -> Vec<(&'static str, String)> {
    let p = |name: &str| prefix.join(name).display().to_string();
    let key = if conf == EXTERNAL_AUTH_CONF {
        ("/etc/nginx/external-auth.jwks", p("external-auth.jwks"))
    } else {
        ("/etc/nginx/jwt.pub", p("jwt.pub"))
    };
    vec![
        ("/etc/nginx/ssl/dify.crt", p("dify.crt")),
        ("/etc/nginx/ssl/dify.key", p("dify.key")),
        key,
        ("127.0.0.1:5000", backend.to_owned()),
        ("listen 443 ", format!("listen 127.0.0.1:{tls} ")),
        ("listen 80;", format!("listen 127.0.0.1:{http};")),
        ("/var/log/nginx/dify-access.log", p("logs/dify-access.log")),
    ]
}

/// The main context around an http-context snippet.
fn main_conf(prefix: &Path, module: &Path, http_body: &str) -> String {
    let p = prefix.display();
    format!(
        "load_module {module};\n\
         daemon off;\n\
         master_process on;\n\
         worker_processes 1;\n\
         worker_shutdown_timeout 3s;\n\
         error_log {p}/logs/error.log info;\n\
         pid {p}/logs/nginx.pid;\n\
         events {{ worker_connections 256; }}\n\
         http {{\n\
         client_body_temp_path {p}/tmp/client_body;\n\
         proxy_temp_path {p}/tmp/proxy;\n\
         fastcgi_temp_path {p}/tmp/fastcgi;\n\
         uwsgi_temp_path {p}/tmp/uwsgi;\n\
         scgi_temp_path {p}/tmp/scgi;\n\
         access_log {p}/logs/access.log;\n\
         {http_body}\n\
         }}\n",
        module = module.display(),
    )
}

fn check_error_log(text: &str, what: &str) {
    for bad in ["[alert]", "[crit]", "[emerg]", "exited on signal"] {
        assert!(!text.contains(bad), "{what} contains {bad:?}:\n{text}");
    }
}

// ---------------------------------------------------------------------------------------
// The gateway fixture: dify-standin + nginx with the shipped dify.conf.

struct Options {
    /// The file of nginx-conf/ to run.
    conf: &'static str,
    /// SSE events per chat-messages answer.
    events: u32,
    interval_ms: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            conf: DIFY_CONF,
            events: 3,
            interval_ms: 50,
        }
    }
}

/// The logs after nginx stopped.
struct Logs {
    /// `dify-access.log` (the `jwt_log` format).
    access: String,
    /// The error log (level info).
    error: String,
}

impl Logs {
    /// The access log line for a request line part (`"GET /x HTTP/1.1" 200`) that also
    /// contains `also`.
    fn line_with(&self, request: &str, also: &str) -> Option<&str> {
        self.access
            .lines()
            .find(|l| l.contains(request) && l.contains(also))
    }
}

struct Gateway {
    // Fields drop in order: nginx stops before the backend, the directory goes last.
    nginx: Proc,
    _standin: Proc,
    https: u16,
    http: u16,
    backend: SocketAddr,
    key: SigningKey,
    /// Running dify-external-auth.conf: tokens carry kid, iss and aud.
    external_auth: bool,
    tokens: RefCell<Vec<String>>,
    dir: TempDir,
}

impl Gateway {
    fn start(tag: &str, opts: Options) -> Gateway {
        let nginx = nginx_bin();
        let module = module_path();
        let dir = TempDir::new(tag);
        fs::create_dir_all(dir.file("tmp")).unwrap();

        let key = rsa_key();
        let key_file = dir.write("jwt.key", key.private_key_to_pem_pkcs8().unwrap());
        dir.write("jwt.pub", key.public_key_to_pem().unwrap());
        let (cert, cert_key) = self_signed(HOST);
        dir.write("dify.crt", cert);
        dir.write("dify.key", cert_key);

        // The backend picks its own port and says which.
        let mut child = Command::new(env!("CARGO_BIN_EXE_dify-standin"))
            .arg("--listen")
            .arg("127.0.0.1:0")
            .arg("--key")
            .arg(&key_file)
            .arg("--events")
            .arg(opts.events.to_string())
            .arg("--interval-ms")
            .arg(opts.interval_ms.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(dir.file("logs/standin.log")).unwrap())
            .spawn()
            .expect("start dify-standin");
        let stdout = child.stdout.take().unwrap();
        let standin = Proc::new("dify-standin", child, false);
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        let backend: SocketAddr = line
            .trim()
            .strip_prefix("dify-standin listening on http://")
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| {
                panic!(
                    "dify-standin did not start: {line:?}\n{}",
                    fs::read_to_string(dir.file("logs/standin.log")).unwrap_or_default()
                )
            });

        let conf_name = opts.conf;
        let template = fs::read_to_string(conf_dir().join(conf_name))
            .unwrap_or_else(|e| panic!("read nginx-conf/{conf_name}: {e}"));
        let set = jwks::jwks_from_pem(
            &key.public_key_to_pem().unwrap(),
            Some(IDP_KID),
            Some("RS256"),
        );
        dir.write("external-auth.jwks", set.unwrap().to_string());
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ports = free_ports(2);
            let (https, http) = (ports[0], ports[1]);
            let subs = dify_substitutions(conf_name, dir.path(), https, http, &backend.to_string());
            dir.write(
                conf_name,
                substitute(&template, &subs, true, &format!("nginx-conf/{conf_name}")),
            );
            let include = format!("include {};", dir.file(conf_name).display());
            let conf = dir.write("nginx.conf", main_conf(dir.path(), &module, &include));
            let child = Command::new(&nginx)
                .arg("-p")
                .arg(format!("{}/", dir.path().display()))
                .arg("-c")
                .arg(&conf)
                .arg("-e")
                .arg(dir.file("logs/error.log"))
                .stdin(Stdio::null())
                .stdout(fs::File::create(dir.file("logs/nginx.out")).unwrap())
                .stderr(fs::File::create(dir.file("logs/nginx.err")).unwrap())
                .spawn()
                .unwrap_or_else(|e| panic!("start {}: {e}", nginx.display()));
            let mut proc = Proc::new("nginx", child, true);
            let deadline = Instant::now() + START_TIMEOUT;
            let up = loop {
                if TcpStream::connect(("127.0.0.1", https)).is_ok()
                    && TcpStream::connect(("127.0.0.1", http)).is_ok()
                {
                    break true;
                }
                if proc.exited().is_some() || Instant::now() > deadline {
                    break false;
                }
                thread::sleep(Duration::from_millis(25));
            };
            if up {
                return Gateway {
                    nginx: proc,
                    _standin: standin,
                    https,
                    http,
                    backend,
                    key: SigningKey::Pkey(key),
                    external_auth: conf_name == EXTERNAL_AUTH_CONF,
                    tokens: RefCell::new(Vec::new()),
                    dir,
                };
            }
            drop(proc);
            let log = fs::read_to_string(dir.file("logs/error.log")).unwrap_or_default()
                + &fs::read_to_string(dir.file("logs/nginx.err")).unwrap_or_default();
            if log.contains("Address already in use") && attempt < 5 {
                // Another test took one of the ports in between: try others.
                let _ = fs::rename(
                    dir.file("logs/error.log"),
                    dir.file(&format!("logs/error.log.{attempt}")),
                );
                continue;
            }
            panic!("nginx did not start listening on 127.0.0.1:{https}/{http}:\n{log}");
        }
    }

    /// Remembers a token: `stop` checks that it never appears in a log.
    fn remember(&self, token: String) -> String {
        self.tokens.borrow_mut().push(token.clone());
        token
    }

    /// An RS256 token with these claims, signed with the gateway's key.
    /// With dify-external-auth.conf, the header names the IdP key (`kid`).
    fn mint(&self, claims: Value) -> String {
        let header = if self.external_auth {
            json!({ "kid": IDP_KID })
        } else {
            Value::Null
        };
        self.remember(encode("RS256", &header, &claims, &self.key).unwrap())
    }

    /// A valid token for user-123 (what the seed's generate_jwt.py makes; with
    /// dify-external-auth.conf also the expected issuer and audience).
    fn token(&self) -> String {
        let t = now();
        let mut claims = json!({"sub": "user-123", "iat": t, "exp": t + 900});
        if self.external_auth {
            claims["iss"] = json!(IDP_ISS);
            claims["aud"] = json!(IDP_AUD);
        }
        self.mint(claims)
    }

    fn tls(&self) -> Tls {
        let tcp = TcpStream::connect(("127.0.0.1", self.https)).expect("connect to nginx (TLS)");
        tcp.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        tcp.set_nodelay(true).unwrap();
        let mut b = SslConnector::builder(SslMethod::tls_client()).unwrap();
        b.set_verify(SslVerifyMode::NONE); // self-signed
        let stream = b
            .build()
            .configure()
            .unwrap()
            .verify_hostname(false)
            .connect(HOST, tcp)
            .expect("TLS handshake with nginx");
        BufReader::new(stream)
    }

    /// One request on a fresh TLS connection (`Connection: close`).
    fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Response {
        let mut conn = self.tls();
        let mut all = vec![("Host", HOST), ("Connection", "close")];
        all.extend_from_slice(headers);
        client::request(&mut conn, method, target, &all, body)
            .unwrap_or_else(|e| panic!("{method} {target}: {e}\n{}", self.error_log()))
    }

    fn get(&self, target: &str, headers: &[(&str, &str)]) -> Response {
        self.request("GET", target, headers, None)
    }

    /// GET with `Authorization: Bearer <token>`.
    fn get_with(&self, target: &str, token: &str, headers: &[(&str, &str)]) -> Response {
        let auth = format!("Bearer {token}");
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        self.get(target, &all)
    }

    /// A WebSocket handshake; returns the connection and the handshake result.
    fn ws(&self, target: &str, headers: &[(&str, &str)]) -> (Tls, client::Handshake) {
        let mut conn = self.tls();
        let hs = ws_handshake(&mut conn, HOST, target, headers)
            .unwrap_or_else(|e| panic!("WebSocket handshake {target}: {e}\n{}", self.error_log()));
        (conn, hs)
    }

    fn error_log(&self) -> String {
        fs::read_to_string(self.dir.file("logs/error.log")).unwrap_or_default()
    }

    /// Stops nginx gracefully and checks its logs: no alert, crit, emerg or crashed worker,
    /// and none of the tokens the test used.
    fn stop(&mut self) -> Logs {
        let status = self.nginx.stop();
        let read = |name: &str| fs::read_to_string(self.dir.file(name)).unwrap_or_default();
        let logs = Logs {
            access: read("logs/dify-access.log"),
            error: read("logs/error.log"),
        };
        check_error_log(&logs.error, "error.log");
        assert!(
            status.is_some_and(|s| s.success()),
            "nginx exited with {status:?}\n{}",
            logs.error
        );
        let default_access = read("logs/access.log");
        for t in self.tokens.borrow().iter() {
            let sig = signature_part(t);
            for (name, text) in [
                ("dify-access.log", &logs.access),
                ("error.log", &logs.error),
                ("access.log", &default_access),
            ] {
                assert!(!text.contains(sig), "a token leaked into {name}:\n{text}");
            }
        }
        logs
    }
}

/// The JSON echo of the backend.
fn echo(r: &Response) -> Value {
    assert_eq!(r.status(), 200, "expected the backend's echo: {}", r.text());
    r.json().unwrap()
}

/// Asserts the shipped 401: JSON body, `WWW-Authenticate: Bearer realm="closed site"...`.
fn assert_json_401(r: &Response, what: &str, invalid_token: bool) {
    assert_eq!(r.status(), 401, "{what}: {}", r.text());
    assert_eq!(r.text(), JSON_401, "{what}");
    // The Content-Type is checked by json_401_is_served_as_application_json alone, so that
    // a wrong one does not hide the other checks.
    let www = r
        .header("www-authenticate")
        .unwrap_or_else(|| panic!("{what}: no WWW-Authenticate"));
    let realm = format!("Bearer realm=\"{REALM}\"");
    if invalid_token {
        assert_eq!(www, format!("{realm}, error=\"invalid_token\""), "{what}");
    } else {
        assert_eq!(www, realm, "{what}");
    }
}

fn read_frame(conn: &mut Tls) -> ws::Frame {
    ws::read_frame(conn, MAX_FRAME).unwrap_or_else(|e| panic!("read a WebSocket frame: {e}"))
}

fn send_frame(conn: &mut Tls, fin: bool, opcode: u8, payload: &[u8]) {
    ws::write_frame(
        conn.get_mut(),
        fin,
        opcode,
        payload,
        Some(ws::random_mask().unwrap()),
    )
    .unwrap();
}

/// The body of a refused handshake.
fn refused_body(conn: &mut Tls, head: &ResponseHead) -> String {
    let framing = http::response_framing("GET", head.status, &head.headers).unwrap();
    String::from_utf8(http::read_body(conn, framing, 1 << 20).unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------
// Tests.

/// HTTP/2 (curl, ALPN h2): a valid token reaches Dify as X-User-ID; no token gets the JSON
/// 401 with the Bearer challenge.
#[test]
fn http2_token_checked_and_identity_forwarded() {
    require_curl();
    let mut gw = Gateway::start("h2", Options::default());
    let token = gw.token();
    let curl = |path: &str, headers: &[String]| -> (String, u16, String, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-sk", "--http2", "-i", "--max-time", "30", "--resolve"])
            .arg(format!("{HOST}:{}:127.0.0.1", gw.https))
            .args(["-w", "\n%{http_version} %{http_code}"]);
        for h in headers {
            cmd.arg("-H").arg(h);
        }
        let out = cmd
            .arg(format!("https://{HOST}:{}{path}", gw.https))
            .output()
            .expect("run curl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let (resp, last) = text.rsplit_once('\n').expect("curl -w output");
        let (version, code) = last.split_once(' ').expect("version and code");
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((resp, ""));
        (
            version.to_owned(),
            code.parse().unwrap(),
            head.to_ascii_lowercase(),
            body.to_owned(),
        )
    };

    let (version, code, head, body) = curl(
        "/v1/parameters?app=1",
        &[
            format!("Authorization: Bearer {token}"),
            "X-User-ID: admin".into(),
        ],
    );
    assert_eq!((version.as_str(), code), ("2", 200), "{head}\n{body}");
    assert!(
        head.contains("strict-transport-security: max-age=31536000"),
        "{head}"
    );
    let e: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(e["x_user_id"], "user-123");
    assert_eq!(e["path"], "/v1/parameters");
    assert_eq!(e["query"], "app=1");
    assert_eq!(
        e["authorization"],
        Value::Null,
        "the token must not reach Dify"
    );
    assert_eq!(e["headers"]["host"], HOST);
    assert_eq!(e["headers"]["x-forwarded-proto"], "https");

    let (version, code, head, body) = curl("/v1/parameters", &[]);
    assert_eq!((version.as_str(), code), ("2", 401), "{head}\n{body}");
    assert_eq!(body, JSON_401);
    assert!(
        head.contains(&format!("www-authenticate: bearer realm=\"{REALM}\"\r\n")),
        "{head}"
    );
    let logs = gw.stop();
    assert!(
        logs.line_with("HTTP/2.0\" 200", "JWT: valid").is_some(),
        "{}",
        logs.access
    );
    assert!(
        logs.line_with("HTTP/2.0\" 401", "JWT: missing").is_some(),
        "{}",
        logs.access
    );
}

/// SSE through the gateway: each event arrives when Dify writes it (proxy_buffering off),
/// not all at once at the end.
#[test]
fn sse_chat_messages_stream_event_by_event() {
    const EVENTS: u32 = 5;
    const INTERVAL_MS: u64 = 600;
    let mut gw = Gateway::start(
        "sse",
        Options {
            events: EVENTS,
            interval_ms: INTERVAL_MS,
            ..Options::default()
        },
    );
    let auth = format!("Bearer {}", gw.token());
    let body = json!({"inputs": {}, "query": "Hello", "response_mode": "streaming", "user": "abc"})
        .to_string();
    let mut conn = gw.tls();
    let start = Instant::now();
    client::write_request(
        conn.get_mut(),
        "POST",
        "/v1/chat-messages",
        &[
            ("Host", HOST),
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Accept", "text/event-stream"),
            ("Connection", "close"),
        ],
        Some(body.as_bytes()),
    )
    .unwrap();
    let head = ResponseHead::read(&mut conn).unwrap();
    assert_eq!(head.status, 200, "{head:?}");
    assert!(
        head.header("content-type")
            .is_some_and(|v| v.starts_with("text/event-stream")),
        "{head:?}"
    );
    assert_eq!(head.header("cache-control"), Some("no-cache"));
    let framing = http::response_framing("POST", 200, &head.headers).unwrap();
    let events = SseReader::new(BufReader::new(http::body_reader(&mut conn, framing)));
    let mut arrivals = Vec::new();
    for ev in events {
        let ev = ev.unwrap();
        arrivals.push((
            start.elapsed(),
            serde_json::from_str::<Value>(&ev.data).unwrap(),
        ));
    }
    assert_eq!(arrivals.len(), EVENTS as usize + 1, "{arrivals:?}");
    for (i, (_, data)) in arrivals.iter().take(EVENTS as usize).enumerate() {
        assert_eq!(data["event"], "message");
        assert_eq!(data["answer"], format!("chunk {}", i + 1));
        assert_eq!(data["user"], "user-123");
    }
    assert_eq!(arrivals[EVENTS as usize].1["event"], "message_end");

    // Dify spreads the 5 messages over 4 x 600 ms = 2.4 s. Buffered, they would all arrive
    // together at the end; streamed, the first comes long before the last.
    let first = arrivals[0].0;
    let last = arrivals[EVENTS as usize - 1].0;
    let total = arrivals[EVENTS as usize].0;
    assert!(
        first < total / 2,
        "the first event came after {first:?} of {total:?}: the answer was buffered"
    );
    assert!(
        last - first >= Duration::from_millis(1500),
        "the messages came within {:?}: the answer was buffered",
        last - first
    );
    let logs = gw.stop();
    assert!(
        logs.line_with("\"POST /v1/chat-messages HTTP/1.1\" 200", "JWT: valid")
            .is_some(),
        "{}",
        logs.access
    );
}

/// WebSocket with the token in `?token=`: upgraded, Dify sees the identity and the query
/// string without the token (wherever it was), and frames of every length form go both ways.
#[test]
fn websocket_token_in_query_is_checked_and_stripped() {
    let mut gw = Gateway::start("ws", Options::default());
    let token = gw.token();
    let cases = [
        (format!("token={token}&room=1"), "room=1"),
        (format!("room=1&token={token}"), "room=1"),
        (format!("room=1&token={token}&lang=en"), "room=1&lang=en"),
        (format!("token={token}"), ""),
    ];
    for (query, forwarded) in &cases {
        let (mut conn, hs) = gw.ws(&format!("/ws/chat?{query}"), &[("X-User-ID", "admin")]);
        assert!(hs.upgraded, "{query}: no upgrade: {:?}", hs.head);
        let hello = read_frame(&mut conn);
        assert_eq!(hello.opcode, ws::OP_TEXT);
        let hello: Value = serde_json::from_slice(&hello.payload).unwrap();
        assert_eq!(hello["hello"], "user-123", "{hello}");
        assert_eq!(hello["query"], *forwarded, "{query} -> {hello}");
        assert_eq!(hello["path"], "/ws/chat");
        assert_eq!(hello["authorization"], Value::Null);
        send_frame(
            &mut conn,
            true,
            ws::OP_CLOSE,
            &ws::close_payload(ws::CLOSE_NORMAL, "bye"),
        );
        let close = read_frame(&mut conn);
        assert_eq!(
            (close.opcode, close.close_code()),
            (ws::OP_CLOSE, Some(ws::CLOSE_NORMAL))
        );
    }

    // Echo: 7-bit, 16-bit and 64-bit lengths, a fragmented message, ping/pong, close.
    let (mut conn, hs) = gw.ws(&format!("/ws/chat?token={token}&room=1"), &[]);
    assert!(hs.upgraded, "{:?}", hs.head);
    read_frame(&mut conn); // hello
    send_frame(&mut conn, true, ws::OP_TEXT, b"hello gateway");
    let f = read_frame(&mut conn);
    assert_eq!(
        (f.opcode, f.text().as_str(), f.masked),
        (ws::OP_TEXT, "hello gateway", false)
    );
    for len in [300usize, 70_000] {
        let payload: Vec<u8> = (0..len).map(|i| (i % 253) as u8).collect();
        send_frame(&mut conn, true, ws::OP_BINARY, &payload);
        let f = read_frame(&mut conn);
        assert_eq!(f.opcode, ws::OP_BINARY);
        assert!(f.payload == payload, "{len}-byte frame not echoed intact");
    }
    send_frame(&mut conn, false, ws::OP_TEXT, b"frag");
    send_frame(&mut conn, true, ws::OP_CONTINUATION, b"mented");
    let (a, b) = (read_frame(&mut conn), read_frame(&mut conn));
    assert_eq!(
        (a.opcode, a.fin, a.text().as_str()),
        (ws::OP_TEXT, false, "frag")
    );
    assert_eq!(
        (b.opcode, b.fin, b.text().as_str()),
        (ws::OP_CONTINUATION, true, "mented")
    );
    send_frame(&mut conn, true, ws::OP_PING, b"are you there");
    let f = read_frame(&mut conn);
    assert_eq!(
        (f.opcode, f.text().as_str()),
        (ws::OP_PONG, "are you there")
    );
    send_frame(
        &mut conn,
        true,
        ws::OP_CLOSE,
        &ws::close_payload(ws::CLOSE_NORMAL, ""),
    );
    let f = read_frame(&mut conn);
    assert_eq!(
        (f.opcode, f.close_code()),
        (ws::OP_CLOSE, Some(ws::CLOSE_NORMAL))
    );
    drop(conn);

    let logs = gw.stop();
    let upgraded = logs
        .access
        .lines()
        .filter(|l| l.contains("\"GET /ws/chat HTTP/1.1\" 101") && l.contains("JWT: valid"))
        .count();
    assert_eq!(upgraded, cases.len() + 1, "{}", logs.access);
    assert!(!logs.access.contains("token="), "{}", logs.access);
}

/// nginx finds `$arg_token` ignoring case (`?TOKEN=` is a token too, and is accepted), so
/// the token must be stripped from what Dify receives whatever its case.
#[test]
fn websocket_token_is_stripped_whatever_its_case() {
    let mut gw = Gateway::start("ws-case", Options::default());
    let token = gw.token();
    for query in [
        format!("TOKEN={token}&room=1"),
        format!("room=1&Token={token}"),
    ] {
        let (mut conn, hs) = gw.ws(&format!("/ws/chat?{query}"), &[]);
        assert!(hs.upgraded, "{query}: {:?}", hs.head);
        let hello: Value = serde_json::from_slice(&read_frame(&mut conn).payload).unwrap();
        assert_eq!(hello["hello"], "user-123");
        assert_eq!(
            hello["query"], "room=1",
            "the token reached Dify in the query string"
        );
    }
    // Only the first token argument is checked and stripped, so two are refused.
    for query in [
        format!("token={token}&token={token}"),
        format!("room=1&token={token}&TOKEN=x"),
    ] {
        let (_conn, hs) = gw.ws(&format!("/ws/chat?{query}"), &[]);
        assert!(!hs.upgraded, "{query}: {:?}", hs.head);
        assert_eq!(hs.head.status, 401, "{query}");
    }
    gw.stop();
}

/// WebSocket without a valid token: 401 with the JSON body, and no upgrade.
#[test]
fn websocket_without_valid_token_is_refused() {
    let mut gw = Gateway::start("ws-refused", Options::default());
    let other = SigningKey::Pkey(rsa_key());
    let t = now();
    let forged = gw.remember(
        encode(
            "RS256",
            &Value::Null,
            &json!({"sub": "user-123", "exp": t + 900}),
            &other,
        )
        .unwrap(),
    );
    let expired = gw.mint(json!({"sub": "user-123", "exp": t - 3600}));
    let cases = [
        (format!("/ws/chat?token={forged}&room=1"), "forged"),
        (format!("/ws/chat?room=1&token={expired}"), "expired"),
        ("/ws/chat?token=&room=1".to_owned(), "empty"),
        ("/ws/chat?room=1".to_owned(), "missing"),
    ];
    for (target, what) in &cases {
        let (mut conn, hs) = gw.ws(target, &[]);
        assert!(!hs.upgraded, "{what}: upgraded");
        assert_eq!(hs.head.status, 401, "{what}: {:?}", hs.head);
        assert!(hs.head.header("upgrade").is_none(), "{what}: {:?}", hs.head);
        assert!(hs.head.header("sec-websocket-accept").is_none(), "{what}");
        assert_eq!(refused_body(&mut conn, &hs.head), JSON_401, "{what}");
        let www = hs.head.header("www-authenticate").unwrap_or_default();
        assert!(
            www.starts_with(&format!("Bearer realm=\"{REALM}\"")),
            "{what}: {www}"
        );
    }
    let logs = gw.stop();
    for word in ["bad_signature", "expired", "missing"] {
        assert!(
            logs.access
                .lines()
                .any(|l| l.contains("\" 401 ") && l.ends_with(&format!("JWT: {word}"))),
            "no 401 with JWT: {word}:\n{}",
            logs.access
        );
    }
    assert!(!logs.access.contains("token="), "{}", logs.access);
}

/// The 401 page is JSON and says so: `Content-Type: application/json`, for a missing and
/// for a refused token, on a protected path and on a WebSocket path.
///
/// `default_type` alone is not enough for a location named `/401.html`: nginx's types map
/// (the built-in one, or mime.types on a distribution nginx) maps `.html` to `text/html`,
/// and `default_type` applies only to extensions the map does not know.
#[test]
fn json_401_is_served_as_application_json() {
    let mut gw = Gateway::start("content-type", Options::default());
    for (target, headers) in [
        ("/v1/chat-messages", &[][..]),
        ("/v1/chat-messages", &[("Authorization", "Bearer a.b.c")]),
        ("/ws/chat?room=1", &[]),
    ] {
        let r = gw.get(target, headers);
        assert_eq!((r.status(), r.text().as_str()), (401, JSON_401), "{target}");
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{target} {headers:?}: the JSON 401 body is labelled {:?}",
            r.header("content-type")
        );
    }
    gw.stop();
}

/// `/login` needs no token, and the token it hands out is accepted on the protected paths.
#[test]
fn login_is_open_and_its_tokens_work() {
    let mut gw = Gateway::start("login", Options::default());
    for (method, target, sub) in [
        ("GET", "/login", "user-123"),
        ("GET", "/login?user=alice", "alice"),
        ("POST", "/login?user=bob", "bob"),
    ] {
        let body = (method == "POST").then_some(&br#"{"username":"bob","password":"x"}"#[..]);
        let r = gw.request(
            method,
            target,
            &[("Content-Type", "application/json")],
            body,
        );
        assert_eq!(r.status(), 200, "{method} {target}: {}", r.text());
        let v = r.json().unwrap();
        assert_eq!(v["expires_in"], 900);
        let token = gw.remember(v["token"].as_str().expect("token").to_owned());
        let e = echo(&gw.get_with("/v1/conversations?user=x", &token, &[]));
        assert_eq!(e["x_user_id"], sub, "{method} {target}");
        let (mut conn, hs) = gw.ws(&format!("/ws/chat?token={token}"), &[]);
        assert!(hs.upgraded, "{:?}", hs.head);
        let hello: Value = serde_json::from_slice(&read_frame(&mut conn).payload).unwrap();
        assert_eq!(hello["hello"], sub);
    }
    // A broken Authorization header does not matter on the open path.
    let r = gw.get("/login", &[("Authorization", "Bearer not.a.token")]);
    assert_eq!(r.status(), 200, "{}", r.text());
    gw.stop();
}

/// A client-chosen X-User-ID never reaches Dify, on any path.
#[test]
fn spoofed_x_user_id_never_reaches_dify() {
    let mut gw = Gateway::start("spoof", Options::default());
    let token = gw.token();
    for headers in [
        &[("X-User-ID", "admin")][..],
        &[("x-user-id", "admin")],
        &[("X-User-ID", "admin"), ("X-User-Id", "root")],
    ] {
        let e = echo(&gw.get_with("/v1/messages", &token, headers));
        assert_eq!(e["x_user_id"], "user-123", "{headers:?}");
        assert_eq!(e["headers"]["x-user-id"], "user-123", "{headers:?}: {e}");
    }
    // Python front ends map X_User_ID to the same variable as X-User-ID: nginx must drop it.
    let e = echo(&gw.get_with("/v1/messages", &token, &[("X_User_ID", "admin")]));
    assert_eq!(e["x_user_id"], "user-123");
    assert!(e["headers"].get("x_user_id").is_none(), "{e}");

    // Open path: no identity at all.
    let r = gw.get("/login", &[("X-User-ID", "admin")]);
    assert_eq!(r.status(), 200);
    let e = echo(&r);
    assert_eq!(e["x_user_id"], Value::Null, "{e}");
    // Only /login itself is open (the seed's prefix match also opened /login*).
    assert_json_401(
        &gw.get("/login/status", &[("X-User-ID", "admin")]),
        "/login/status without a token",
        false,
    );

    // WebSocket.
    let (mut conn, hs) = gw.ws(
        &format!("/ws/chat?token={token}"),
        &[("X-User-ID", "admin")],
    );
    assert!(hs.upgraded);
    let hello: Value = serde_json::from_slice(&read_frame(&mut conn).payload).unwrap();
    assert_eq!(hello["hello"], "user-123");
    drop(conn);

    // A valid token without "sub": no X-User-ID rather than the client's.
    let t = now();
    let no_sub = gw.mint(json!({"iat": t, "exp": t + 900}));
    let e = echo(&gw.get_with("/v1/messages", &no_sub, &[("X-User-ID", "admin")]));
    assert_eq!(e["x_user_id"], Value::Null, "{e}");

    // No token: refused before Dify.
    assert_json_401(
        &gw.get("/v1/messages", &[("X-User-ID", "admin")]),
        "no token",
        false,
    );
    gw.stop();
}

/// Expired, foreign-key, `alg: none`, key-confusion and garbage tokens: 401 with the JSON
/// body and `error="invalid_token"`.
#[test]
fn bad_tokens_get_the_json_401() {
    let mut gw = Gateway::start("bad-tokens", Options::default());
    let t = now();
    let claims = json!({"sub": "user-123", "iat": t, "exp": t + 900});
    let other = SigningKey::Pkey(rsa_key());
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    let none_header = b64(&json!({"alg": "none", "typ": "JWT"}));
    let payload = b64(&claims);
    let public_pem = fs::read(gw.dir.file("jwt.pub")).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "expired",
            gw.mint(json!({"sub": "user-123", "exp": t - 3600})),
            "expired",
        ),
        (
            "signed by another key",
            gw.remember(encode("RS256", &Value::Null, &claims, &other).unwrap()),
            "bad_signature",
        ),
        (
            "alg none, empty signature",
            format!("{none_header}.{payload}."),
            "malformed",
        ),
        (
            "alg none with a signature",
            gw.remember(format!("{none_header}.{payload}.c2lnbmF0dXJl")),
            "unsupported_alg",
        ),
        (
            "HS256 keyed with the public key PEM",
            gw.remember(
                encode_raw(
                    "HS256",
                    br#"{"alg":"HS256","typ":"JWT"}"#,
                    claims.to_string().as_bytes(),
                    &SigningKey::hmac(&public_pem),
                )
                .unwrap(),
            ),
            "no_key",
        ),
        ("garbage", "garbage".to_owned(), "malformed"),
    ];
    for (what, token, _) in &cases {
        let r = gw.get_with("/v1/chat-messages", token, &[]);
        assert_json_401(&r, what, true);
        assert!(
            r.header("strict-transport-security").is_some(),
            "{what}: HSTS is sent with \"always\""
        );
    }
    assert_json_401(&gw.get("/v1/chat-messages", &[]), "no token", false);
    assert_json_401(
        &gw.get("/", &[("Authorization", "Basic dXNlcjpwYXNz")]),
        "Basic credentials",
        false,
    );
    let logs = gw.stop();
    for (what, _, word) in &cases {
        assert!(
            logs.access
                .lines()
                .any(|l| l.contains("\" 401 ") && l.ends_with(&format!("JWT: {word}"))),
            "{what}: no 401 line with JWT: {word}\n{}",
            logs.access
        );
    }
}

/// Plain HTTP redirects to HTTPS; only GET and POST are allowed.
#[test]
fn http_redirects_and_methods_are_limited() {
    let mut gw = Gateway::start("methods", Options::default());
    let mut conn = BufReader::new(TcpStream::connect(("127.0.0.1", gw.http)).unwrap());
    conn.get_ref().set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    let r = client::request(
        &mut conn,
        "GET",
        "/v1/chat-messages?a=1",
        &[("Host", HOST), ("Connection", "close")],
        None,
    )
    .unwrap();
    assert_eq!(r.status(), 301, "{}", r.text());
    assert_eq!(
        r.header("location"),
        Some(format!("https://{HOST}/v1/chat-messages?a=1").as_str())
    );

    let token = gw.token();
    let auth = format!("Bearer {token}");
    for method in ["PUT", "DELETE", "PATCH"] {
        for headers in [&[][..], &[("Authorization", auth.as_str())]] {
            let r = gw.request(method, "/v1/conversations/1", headers, Some(b"{}"));
            assert_eq!(r.status(), 405, "{method}: {}", r.text());
        }
    }
    assert_eq!(
        echo(&gw.get_with("/v1/conversations/1", &token, &[]))["method"],
        "GET"
    );
    let r = gw.request(
        "POST",
        "/v1/conversations/1",
        &[("Authorization", &auth)],
        Some(b"{}"),
    );
    assert_eq!(echo(&r)["method"], "POST");
    assert_eq!(echo(&r)["body"], "{}");
    gw.stop();
}

/// The access log records the JWT outcome of accepted and refused requests and never the
/// token, also for `?token=` WebSocket requests.
#[test]
fn access_log_records_outcomes_not_tokens() {
    let mut gw = Gateway::start("access-log", Options::default());
    let token = gw.token();
    let t = now();
    let expired = gw.mint(json!({"sub": "user-123", "exp": t - 60}));
    assert_eq!(
        gw.get_with("/v1/messages?limit=20", &token, &[]).status(),
        200
    );
    assert_eq!(gw.get("/v1/messages", &[]).status(), 401);
    assert_eq!(gw.get_with("/v1/messages", &expired, &[]).status(), 401);
    let (mut conn, hs) = gw.ws(&format!("/ws/chat?room=1&token={token}"), &[]);
    assert!(hs.upgraded);
    read_frame(&mut conn);
    send_frame(&mut conn, true, ws::OP_CLOSE, &[]);
    read_frame(&mut conn);
    drop(conn);
    let (mut conn, hs) = gw.ws(&format!("/ws/chat?token={expired}"), &[]);
    assert_eq!(hs.head.status, 401);
    refused_body(&mut conn, &hs.head);
    drop(conn);

    let logs = gw.stop();
    let lines: Vec<&str> = logs.access.lines().collect();
    assert_eq!(lines.len(), 5, "{}", logs.access);
    let expect = [
        ("\"GET /v1/messages HTTP/1.1\" 200", "JWT: valid"),
        ("\" 401 ", "JWT: missing"),
        ("\" 401 ", "JWT: expired"),
        ("\"GET /ws/chat HTTP/1.1\" 101", "JWT: valid"),
    ];
    for (request, outcome) in expect {
        assert!(
            logs.line_with(request, outcome).is_some(),
            "no line with {request} and {outcome}:\n{}",
            logs.access
        );
    }
    assert_eq!(
        lines.iter().filter(|l| l.ends_with("JWT: expired")).count(),
        2,
        "{}",
        logs.access
    );
    for l in &lines {
        assert!(!l.contains('?'), "the query string was logged: {l}");
    }
    // stop() already checked that no token (its signature) is in any log.
}

/// The stand-in itself, without nginx: keep-alive, chunked request bodies, SSE framing,
/// `/login` tokens that verify with the public key, and garbage.
#[test]
fn standin_speaks_http_1_1() {
    let mut gw = Gateway::start("standin", Options::default());
    let connect = || {
        let s = TcpStream::connect(gw.backend).unwrap();
        s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        BufReader::new(s)
    };
    let mut conn = connect();
    // A chunked request body, then more requests on the same connection.
    client::write_request(
        conn.get_mut(),
        "POST",
        "/v1/files/upload?x=1",
        &[("Host", "dify"), ("Transfer-Encoding", "chunked")],
        None,
    )
    .unwrap();
    use std::io::Write as _;
    conn.get_mut()
        .write_all(b"5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n")
        .unwrap();
    let r = Response::read(&mut conn, "POST").unwrap();
    let e = echo(&r);
    assert_eq!(
        (e["body"].as_str(), e["query"].as_str()),
        (Some("hello, world"), Some("x=1"))
    );
    assert_eq!(e["x_user_id"], Value::Null);
    let r = client::request(
        &mut conn,
        "GET",
        "/login?user=carol",
        &[("Host", "dify")],
        None,
    )
    .unwrap();
    let token = r.json().unwrap()["token"].as_str().unwrap().to_owned();
    let (keys, _) = KeySet::parse(&fs::read(gw.dir.file("jwt.pub")).unwrap()).unwrap();
    let verified = verify(
        token.as_bytes(),
        &keys,
        &Validation {
            now: now(),
            leeway: 0,
        },
    )
    .unwrap();
    assert_eq!(verified.claims()["sub"], "carol");
    let r = client::request(
        &mut conn,
        "POST",
        "/v1/chat-messages",
        &[("Host", "dify"), ("X-User-ID", "dave")],
        Some(b"{}"),
    )
    .unwrap();
    assert_eq!(r.header("transfer-encoding"), Some("chunked"));
    let events: Vec<Value> = SseReader::new(&r.body[..])
        .map(|e| serde_json::from_str(&e.unwrap().data).unwrap())
        .collect();
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(events[0]["user"], "dave");
    let r = client::request(&mut conn, "GET", "/anything", &[("Host", "dify")], None).unwrap();
    assert_eq!(echo(&r)["path"], "/anything");

    // Garbage: 400 and the connection closes; the server lives on.
    for junk in [
        &b"\x16\x03\x01\x00\xa5garbage\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    ] {
        let mut c = connect();
        c.get_mut().write_all(junk).unwrap();
        let r = Response::read(&mut c, "GET").unwrap();
        assert_eq!(r.status(), 400);
        let mut rest = Vec::new();
        assert_eq!(std::io::Read::read_to_end(&mut c, &mut rest).unwrap(), 0);
    }
    let r = client::request(
        &mut connect(),
        "GET",
        "/still-up",
        &[("Host", "dify")],
        None,
    )
    .unwrap();
    assert_eq!(echo(&r)["path"], "/still-up");
    gw.stop();
}

/// dify-external-auth.conf: tokens of an identity provider, checked against its JWKS by
/// `kid`, and accepted only with the expected issuer and audience.
#[test]
fn external_auth_checks_kid_issuer_and_audience() {
    let mut gw = Gateway::start(
        "external-auth",
        Options {
            conf: EXTERNAL_AUTH_CONF,
            ..Options::default()
        },
    );
    let t = now();
    let good = gw.token();
    let e = echo(&gw.get_with("/v1/messages", &good, &[("X-User-ID", "admin")]));
    assert_eq!(e["x_user_id"], "user-123");
    assert_eq!(e["authorization"], Value::Null);
    let claims = |iss: Value, aud: Value| json!({"sub": "user-123", "iat": t, "exp": t + 900, "iss": iss, "aud": aud});
    let multi = gw.mint(claims(json!(IDP_ISS), json!(["other-app", IDP_AUD])));
    assert_eq!(
        echo(&gw.get_with("/", &multi, &[]))["x_user_id"],
        "user-123"
    );

    let (mut conn, hs) = gw.ws(&format!("/ws/chat?room=7&token={good}"), &[]);
    assert!(hs.upgraded, "{:?}", hs.head);
    let hello: Value = serde_json::from_slice(&read_frame(&mut conn).payload).unwrap();
    assert_eq!(
        (hello["hello"].as_str(), hello["query"].as_str()),
        (Some("user-123"), Some("room=7"))
    );
    drop(conn);

    let unknown_kid = gw.remember(
        encode(
            "RS256",
            &json!({"kid": "rotated-away"}),
            &claims(json!(IDP_ISS), json!(IDP_AUD)),
            &gw.key,
        )
        .unwrap(),
    );
    let refused = [
        (
            "wrong issuer",
            gw.mint(claims(json!("someone-else"), json!(IDP_AUD))),
            "require_failed",
        ),
        (
            "wrong audience",
            gw.mint(claims(json!(IDP_ISS), json!("dify-app-2"))),
            "require_failed",
        ),
        (
            "no audience",
            gw.mint(claims(json!(IDP_ISS), Value::Null)),
            "require_failed",
        ),
        ("unknown kid", unknown_kid, "no_key"),
        (
            "expired",
            gw.mint(json!({"sub": "u", "exp": t - 60, "iss": IDP_ISS, "aud": IDP_AUD})),
            "expired",
        ),
    ];
    for (what, token, _) in &refused {
        assert_json_401(&gw.get_with("/v1/messages", token, &[]), what, true);
    }
    let (mut conn, hs) = gw.ws(&format!("/ws/chat?token={}", refused[0].1), &[]);
    assert_eq!(hs.head.status, 401, "wrong issuer on /ws/");
    assert_eq!(refused_body(&mut conn, &hs.head), JSON_401);
    drop(conn);

    let logs = gw.stop();
    for (what, _, word) in &refused {
        assert!(
            logs.access
                .lines()
                .any(|l| l.contains("\" 401 ") && l.ends_with(&format!("JWT: {word}"))),
            "{what}: no 401 line with JWT: {word}\n{}",
            logs.access
        );
    }
}

// ---------------------------------------------------------------------------------------
// nginx -t on every shipped configuration file.

/// Checks every `nginx-conf/*.conf` with `nginx -t` and the module loaded.
fn check_shipped_configs(nginx: &Path, module: &Path) {
    let mut files: Vec<PathBuf> = fs::read_dir(conf_dir())
        .expect("read nginx-conf/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "conf"))
        .collect();
    files.sort();
    let names: Vec<String> = files
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n == DIFY_CONF), "{names:?}");
    assert!(
        names.iter().any(|n| n == "mod-http-auth-jwt.conf"),
        "{names:?}"
    );

    for (file, name) in files.iter().zip(&names) {
        let dir = TempDir::new("nginx-t");
        fs::create_dir_all(dir.file("tmp")).unwrap();
        let key = rsa_key();
        let public = key.public_key_to_pem().unwrap();
        dir.write("jwt.pub", &public);
        let set = jwks::jwks_from_pem(&public, Some(IDP_KID), Some("RS256")).unwrap();
        dir.write("external-auth.jwks", set.to_string());
        let (cert, cert_key) = self_signed(HOST);
        dir.write("dify.crt", cert);
        dir.write("dify.key", cert_key);
        let ports = free_ports(3);
        let text = fs::read_to_string(file).unwrap();

        // The Dify configurations: every placeholder must be there.
        let backend = format!("127.0.0.1:{}", ports[2]);
        let required = if name == DIFY_CONF || name == EXTERNAL_AUTH_CONF {
            dify_substitutions(name, dir.path(), ports[0], ports[1], &backend)
        } else {
            Vec::new()
        };
        let text = substitute(&text, &required, true, name);
        // Any file: whatever known placeholder it has.
        let mut subs = dify_substitutions(DIFY_CONF, dir.path(), ports[0], ports[1], &backend);
        subs.extend(dify_substitutions(
            EXTERNAL_AUTH_CONF,
            dir.path(),
            ports[0],
            ports[1],
            &backend,
        ));
        subs.extend([
            (
                "modules/ngx_http_auth_jwt_module.so",
                module.display().to_string(),
            ),
            // scripts/demo's placeholders (nginx-conf/demo.conf).
            ("@MODULE@", module.display().to_string()),
            ("@PREFIX@", dir.path().display().to_string()),
            ("@PORT@", ports[0].to_string()),
            ("@BACKEND_PORT@", ports[1].to_string()),
        ]);
        let text = substitute(&text, &subs, false, name);
        // Directives outside comments tell a main-context file from a conf.d/ snippet.
        let main_context = text
            .lines()
            .map(|l| l.split('#').next().unwrap_or("").trim_start())
            .any(|l| l.starts_with("load_module") || l.starts_with("events"));
        let conf = if main_context {
            // A main-context file: complete it with what nginx needs to start.
            let mut main = text.clone();
            if !main.contains("events") {
                main.push_str("\nevents {}\n");
            }
            if !main.contains("pid ") {
                main.push_str(&format!("pid {}/logs/nginx.pid;\n", dir.path().display()));
            }
            main
        } else {
            // An http-context snippet (conf.d/): inside http { }.
            dir.write(name, &text);
            main_conf(
                dir.path(),
                module,
                &format!("include {};", dir.file(name).display()),
            )
        };
        let conf = dir.write("nginx.conf", conf);
        let out = Command::new(nginx)
            .arg("-t")
            .arg("-p")
            .arg(format!("{}/", dir.path().display()))
            .arg("-c")
            .arg(&conf)
            .arg("-e")
            .arg(dir.file("logs/error.log"))
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", nginx.display()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        let log = fs::read_to_string(dir.file("logs/error.log")).unwrap_or_default();
        assert!(
            out.status.success() && stderr.contains("test is successful"),
            "{} -t failed on nginx-conf/{name}:\n{stderr}\n{log}\n--- tested configuration ---\n{}",
            nginx.display(),
            fs::read_to_string(&conf).unwrap_or_default()
        );
        check_error_log(&format!("{stderr}{log}"), &format!("nginx -t of {name}"));
        eprintln!("{} -t: nginx-conf/{name} ok", nginx.display());
    }
}

/// Every shipped configuration passes `nginx -t` with the vendored nginx (or
/// `$AUTH_JWT_NGINX`) and the module.
#[test]
fn shipped_configs_pass_nginx_t() {
    check_shipped_configs(&nginx_bin(), &module_path());
}

/// The same with Debian's packaged nginx, when `$AUTH_JWT_DEBIAN_MODULE` names a module
/// built for it (scripts/test sets it).
#[test]
fn shipped_configs_pass_nginx_t_on_debian_nginx() {
    let Some(module) = env_path("AUTH_JWT_DEBIAN_MODULE") else {
        // In CI (scripts/test --no-debian aside) a missing prerequisite is a failure.
        assert!(
            std::env::var_os("CI").is_none() || env_path("AUTH_JWT_NO_DEBIAN").is_some(),
            "CI is set but AUTH_JWT_DEBIAN_MODULE is not: run the tests through scripts/test"
        );
        eprintln!("AUTH_JWT_DEBIAN_MODULE is not set: Debian's nginx is not checked here");
        return;
    };
    assert!(
        module.is_file(),
        "AUTH_JWT_DEBIAN_MODULE={} is not a file",
        module.display()
    );
    let nginx = Path::new("/usr/sbin/nginx");
    assert!(
        nginx.is_file(),
        "AUTH_JWT_DEBIAN_MODULE is set but /usr/sbin/nginx is missing (apt-get install nginx)"
    );
    check_shipped_configs(nginx, &module);
}
