//! A real nginx with the module for integration tests: free ports on 127.0.0.1, a private
//! prefix, stopped (SIGQUIT, then SIGKILL) and reaped when dropped, and a final check that no
//! worker crashed and nothing was logged above `[error]`.
//!
//! nginx: `$AUTH_JWT_NGINX`, else the vendored nginx that `cargo build -p
//! ngx_http_auth_jwt_module` builds. Module: `$AUTH_JWT_MODULE`, else
//! `target/<profile>/libngx_http_auth_jwt_module.so`.

#![allow(dead_code)]

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

pub fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// `target/<profile>`: the parent of the `deps/` directory holding this test executable.
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "deps"))
        .and_then(Path::parent)
        .unwrap_or_else(|| {
            panic!(
                "{} is not in a target/<profile>/deps/ directory",
                exe.display()
            )
        })
        .to_path_buf()
}

pub fn nginx_bin() -> PathBuf {
    if let Some(p) = env_path("AUTH_JWT_NGINX") {
        assert!(p.is_file(), "AUTH_JWT_NGINX={} is not a file", p.display());
        return p;
    }
    let file = profile_dir().join("nginx-build-dir");
    let dir = fs::read_to_string(&file).unwrap_or_else(|e| {
        panic!(
            "cannot read {} ({e}): run `cargo build -p ngx_http_auth_jwt_module` first \
             (it builds the vendored nginx), or set AUTH_JWT_NGINX",
            file.display()
        )
    });
    let bin = Path::new(dir.lines().next().unwrap_or("").trim()).join("nginx");
    assert!(
        bin.is_file(),
        "the vendored nginx binary {} is missing: run `cargo build -p ngx_http_auth_jwt_module`, \
         or set AUTH_JWT_NGINX",
        bin.display()
    );
    bin
}

pub fn module_path() -> PathBuf {
    if let Some(p) = env_path("AUTH_JWT_MODULE") {
        assert!(p.is_file(), "AUTH_JWT_MODULE={} is not a file", p.display());
        return p;
    }
    let so = profile_dir().join("libngx_http_auth_jwt_module.so");
    assert!(
        so.is_file(),
        "the module {} is missing: run `cargo build -p ngx_http_auth_jwt_module` first \
         (`cargo test --workspace` builds it too), or set AUTH_JWT_MODULE",
        so.display()
    );
    so
}

pub fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|l| l.local_addr().expect("local_addr").port())
        .collect()
}

pub struct Nginx {
    child: Option<Child>,
    pub dir: PathBuf,
    pub ports: Vec<u16>,
}

impl Nginx {
    /// Starts nginx in a fresh prefix holding `files`; `http` renders the body of the
    /// `http {}` block from the prefix and `nports` free ports, all of which must accept
    /// connections before this returns.
    pub fn start(
        tag: &str,
        files: &[(&str, &[u8])],
        nports: usize,
        http: impl Fn(&Path, &[u16]) -> String,
    ) -> Nginx {
        Nginx::start_workers(tag, files, nports, 1, http)
    }

    /// [`Nginx::start`] with `workers` worker processes.
    pub fn start_workers(
        tag: &str,
        files: &[(&str, &[u8])],
        nports: usize,
        workers: usize,
        http: impl Fn(&Path, &[u16]) -> String,
    ) -> Nginx {
        Nginx::start_full(tag, files, nports, workers, |_| String::new(), http)
    }

    /// [`Nginx::start_workers`] with directives of the main context (e.g. `env`), made from
    /// the prefix.
    pub fn start_full(
        tag: &str,
        files: &[(&str, &[u8])],
        nports: usize,
        workers: usize,
        main: impl Fn(&Path) -> String,
        http: impl Fn(&Path, &[u16]) -> String,
    ) -> Nginx {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "auth-jwt-{tag}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("logs")).unwrap();
        fs::create_dir_all(dir.join("tmp")).unwrap();
        for (name, data) in files {
            if let Some(parent) = dir.join(name).parent() {
                fs::create_dir_all(parent).unwrap();
            }
            fs::write(dir.join(name), data).unwrap();
        }
        let p = dir.display();
        for attempt in 1.. {
            let ports = free_ports(nports);
            let conf = format!(
                "load_module {module};\n\
                 daemon off;\n\
                 master_process on;\n\
                 worker_processes {workers};\n\
                 error_log {p}/logs/error.log info;\n\
                 pid {p}/logs/nginx.pid;\n\
                 {main}\n\
                 events {{ worker_connections 1024; }}\n\
                 http {{\n\
                 client_body_temp_path {p}/tmp; proxy_temp_path {p}/tmp;\n\
                 fastcgi_temp_path {p}/tmp; uwsgi_temp_path {p}/tmp; scgi_temp_path {p}/tmp;\n\
                 access_log {p}/logs/access.log;\n\
                 {body}\n\
                 }}\n",
                module = module_path().display(),
                main = main(&dir),
                body = http(&dir, &ports),
            );
            fs::write(dir.join("nginx.conf"), conf).unwrap();
            let child = Command::new(nginx_bin())
                .arg("-p")
                .arg(format!("{p}/"))
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .arg("-e")
                .arg(dir.join("logs/error.log"))
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(fs::File::create(dir.join("logs/nginx.err")).unwrap())
                .spawn()
                .expect("start nginx");
            let mut nginx = Nginx {
                child: Some(child),
                dir: dir.clone(),
                ports: ports.clone(),
            };
            let deadline = Instant::now() + Duration::from_secs(30);
            // nginx writes its pid file after it has bound its listening sockets: with it,
            // the ports answering are this nginx's, not another test's that drew the same
            // free port at the same moment (tests run in parallel).
            let pid = nginx.child.as_ref().map(|c| c.id().to_string());
            while Instant::now() < deadline {
                let ours = fs::read_to_string(dir.join("logs/nginx.pid"))
                    .is_ok_and(|s| Some(s.trim().to_owned()) == pid);
                if ours
                    && ports
                        .iter()
                        .all(|&port| TcpStream::connect(("127.0.0.1", port)).is_ok())
                {
                    return nginx;
                }
                if nginx.child.as_mut().unwrap().try_wait().unwrap().is_some() {
                    break;
                }
                thread::sleep(Duration::from_millis(25));
            }
            nginx.stop();
            let log = nginx.logs();
            if log.contains("Address already in use") && attempt < 5 {
                let _ = fs::remove_file(dir.join("logs/error.log"));
                continue;
            }
            panic!("nginx did not start:\n{log}");
        }
        unreachable!()
    }

    /// The master process's pid.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, |c| c.id())
    }

    pub fn logs(&self) -> String {
        fs::read_to_string(self.dir.join("logs/error.log")).unwrap_or_default()
            + &fs::read_to_string(self.dir.join("logs/nginx.err")).unwrap_or_default()
    }

    /// `nginx -s reload` of this instance, waiting until the new workers run.
    pub fn reload(&self) {
        let pid = self.child.as_ref().unwrap().id();
        let before = self.logs().matches("reconfiguring").count();
        let _ = Command::new("kill")
            .arg("-HUP")
            .arg(pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let log = self.logs();
            if log.matches("reconfiguring").count() > before
                && log.matches("start worker process").count() >= 2
            {
                thread::sleep(Duration::from_millis(300));
                return;
            }
            thread::sleep(Duration::from_millis(25));
        }
        panic!("nginx did not reload:\n{}", self.logs());
    }

    /// SIGQUIT (graceful), SIGKILL after 5 s; returns whether nginx exited with status 0.
    pub fn stop(&mut self) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let _ = Command::new("kill")
            .arg("-QUIT")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Stops nginx and checks that no worker crashed and nothing was logged above [error].
    pub fn finish(self) {
        self.finish_expecting(&[]);
    }

    /// [`Nginx::finish`], but log lines that contain one of `expected` (a worker the test
    /// killed on purpose) are allowed.
    pub fn finish_expecting(mut self, expected: &[&str]) {
        let clean = self.stop();
        let log = self.logs();
        let checked: String = log
            .lines()
            .filter(|l| !expected.iter().any(|e| l.contains(e)))
            .collect::<Vec<_>>()
            .join("\n");
        for bad in [
            "[alert]",
            "[crit]",
            "[emerg]",
            "exited on signal",
            "panicked",
        ] {
            assert!(
                !checked.contains(bad),
                "the error log contains {bad:?}:\n{log}"
            );
        }
        assert!(clean, "nginx did not exit cleanly:\n{log}");
        let _ = fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        if self.child.is_some() {
            self.stop();
            eprintln!("keeping {} for inspection", self.dir.display());
        }
    }
}
