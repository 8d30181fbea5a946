# Shared setup of the load scripts (scripts/bench, scripts/reload-soak; sourced after lib.sh):
# the module and the token tools, a work directory and its cleanup, keys and tokens, nginx
# serving empty_gif behind auth_jwt on 127.0.0.1, and wrk against it.
#
# Globals it sets and the scripts use: MODULE, NGINX_BIN (the module and its nginx), TOOLS
# (jwt-mint, jwks-export), dir (the work directory), port (where nginx listens), master (the
# running nginx master, if any), child (the running command under `bounded`, if any).
# The scripts set WRK_CONNS (wrk's connections) and WRK_CPUS (taskset CPU list; empty: no
# pinning), may set LOAD_KEEP=1 to keep the work directory, and may define load_on_exit, which
# the cleanup calls.
# shellcheck shell=bash

master=
child=
port=
WRK_CONNS=${WRK_CONNS:-32}
WRK_CPUS=${WRK_CPUS:-}
LOAD_KEEP=0

# ---------------------------------------------------------------- builds

# load_build 1|0: builds the module against the vendored nginx and the token tools (1), or uses
# those last built in target/release (0). Sets MODULE, NGINX_BIN and TOOLS.
load_build() {
    if [ "$1" = 1 ]; then
        build_vendored
        log "building the token tools"
        (cd "$ROOT" && cargo build -q --release --locked -p auth-jwt-core -p auth-jwt-integration) \
            || die "build failed"
    else
        # AUTH_JWT_BENCH_MODULE: another build of the module (e.g. one with line tables, for
        # per-line profiles), loaded into the same vendored nginx.
        MODULE="${AUTH_JWT_BENCH_MODULE:-$ROOT/target/release/ngx_http_auth_jwt_module.so}"
        [ -f "$MODULE" ] || die "--no-build: $MODULE not found (run once without --no-build)"
        NGINX_BIN="$(head -n1 "$ROOT/target/release/nginx-build-dir" 2>/dev/null)/nginx"
        [ -x "$NGINX_BIN" ] || die "--no-build: vendored nginx not found"
    fi
    TOOLS="$ROOT/target/release"
    local tool
    for tool in jwt-mint jwks-export; do [ -x "$TOOLS/$tool" ] || die "$TOOLS/$tool not found"; done
}

# ---------------------------------------------------------------- work directory and cleanup

# load_workdir NAME [SUBDIR...]: creates dir=/tmp/NAME.XXXXXX with logs/, tmp/ and the SUBDIRs,
# and sets the traps: on exit the running command and nginx are stopped, load_on_exit is called
# if defined, and dir is removed unless LOAD_KEEP=1.
load_workdir() {
    dir=$(mktemp -d "/tmp/$1.XXXXXX")
    shift
    local d
    mkdir -p "$dir/logs" "$dir/tmp"
    for d in "$@"; do mkdir -p "$dir/$d"; done
    trap load_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM HUP
}

load_cleanup() {
    if [ -n "$child" ]; then
        kill -TERM "$child" 2>/dev/null || true
        wait "$child" 2>/dev/null || true
        child=
    fi
    stop_nginx
    if declare -F load_on_exit >/dev/null; then load_on_exit; fi
    if [ "$LOAD_KEEP" = 1 ]; then
        [ -z "$dir" ] || log "files kept in $dir"
    else
        [ -z "$dir" ] || rm -rf "$dir"
    fi
}

# Runs a command under timeout in the background and waits for it (so that a signal reaches the
# traps at once): bounded OUT SECONDS command...; returns the command's status.
bounded() {
    local out=$1 secs=$2 rc=0
    shift 2
    timeout -k 5 "$secs" "$@" > "$out" 2>&1 &
    child=$!
    wait "$child" || rc=$?
    child=
    return "$rc"
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# ---------------------------------------------------------------- keys and tokens

# genkey openssl-genpkey-options... (with -out FILE)
genkey() { openssl genpkey "$@" 2>/dev/null || die "openssl genpkey $* failed"; }
# rsa_key FILE: a new 2048-bit RSA private key.
rsa_key() { genkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1"; }
# jwks_of KEY KID: prints a JWKS with KEY's public key, as KID (jwks-export).
jwks_of() { "$TOOLS/jwks-export" --key "$1" --kid "$2" || die "jwks-export --key $1 failed"; }
# jwks_merge OUT INDENT JWKS...: writes to OUT one JWKS with the keys of every JWKS file, in
# order (INDENT: json.dump's indent, or None).
jwks_merge() {
    python3 - "$@" <<'PY' || die "jwks_merge $* failed"
import json, sys
out, indent, files = sys.argv[1], sys.argv[2], sys.argv[3:]
keys = [k for f in files for k in json.load(open(f))["keys"]]
json.dump({"keys": keys}, open(out, "w"), indent=None if indent == "None" else int(indent))
PY
}
# jwt_mint OPTIONS...: prints a token (jwt-mint; see its --help).
jwt_mint() { "$TOOLS/jwt-mint" "$@" || die "jwt-mint $* failed"; }

# ---------------------------------------------------------------- nginx

# load_conf FILE PORT ERROR_LEVEL MAIN HTTP LOCATION: writes an nginx.conf (daemon off, pid and
# error log in $dir/logs, access_log off, temporary files in $dir/tmp) with one server on
# 127.0.0.1:PORT whose location / has the LOCATION lines and then empty_gif. MAIN: lines of the
# main context (worker_processes...), each at the start of a line; HTTP: lines of the http block.
load_conf() {
    cat > "$1" <<CONF
load_module $MODULE;
daemon off;
$4
pid $dir/logs/nginx.pid;
error_log $dir/logs/error.log $3;
events { worker_connections 1024; }
http {
    access_log off;
    $5
    client_body_temp_path $dir/tmp; proxy_temp_path $dir/tmp; fastcgi_temp_path $dir/tmp;
    uwsgi_temp_path $dir/tmp; scgi_temp_path $dir/tmp;
    server {
        listen 127.0.0.1:$2;
        location / {
            $6
            empty_gif;
        }
    }
}
CONF
}

# start_nginx CONF NAME: starts nginx with CONF (in the background: master) and waits (10 s at
# most) until 127.0.0.1:$port answers; dies with the error log's tail if it does not.
start_nginx() {
    "$NGINX_BIN" -p "$dir/" -c "$1" -e "$dir/logs/error.log" 2>>"$dir/logs/stderr.log" &
    master=$!
    local i
    for i in $(seq 100); do
        kill -0 "$master" 2>/dev/null || { master=; tail -n 20 "$dir/logs/error.log" "$dir/logs/stderr.log" >&2; die "nginx ($2) did not start"; }
        curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" && break
        sleep 0.1
    done
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" || die "nginx ($2) does not answer on 127.0.0.1:$port"
}

# Stops the running nginx (QUIT, then KILL after 10 s).
stop_nginx() {
    [ -n "$master" ] || return 0
    local m=$master i
    master=
    kill -QUIT "$m" 2>/dev/null || true
    for i in $(seq 100); do kill -0 "$m" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$m" 2>/dev/null; then
        log "nginx $m did not stop on QUIT within 10 s: killing it"
        # Its workers are its children: kill them by pid.
        local w
        for w in $(ps -o pid= --ppid "$m" 2>/dev/null); do kill -KILL "$w" 2>/dev/null || true; done
        kill -KILL "$m" 2>/dev/null || true
    fi
    wait "$m" 2>/dev/null || true
}

# The running nginx's workers (not those of an old generation shutting down after a reload).
worker_pids() { pgrep -P "$master" -fx "nginx: worker process" || true; }
# rss_kb PIDS: the resident memory of the processes (a comma-separated list), summed.
rss_kb() {
    local p t=0 k
    for p in ${1//,/ }; do
        k=$(awk '/^VmRSS/ {print $2}' "/proc/$p/status" 2>/dev/null || echo 0)
        t=$((t + ${k:-0}))
    done
    echo "$t"
}

# ---------------------------------------------------------------- wrk

# load_wrk OUT SECONDS TOKEN [wrk options...]: wrk -t1 -c$WRK_CONNS -dSECONDS against
# 127.0.0.1:$port, every request with "Authorization: Bearer TOKEN" (none if TOKEN is empty),
# pinned to the CPUs of WRK_CPUS if set; its output in OUT. Bounded to SECONDS + 30 s; returns
# wrk's status.
load_wrk() {
    local out=$1 secs=$2 tok=$3
    shift 3
    local hdr=() pin=()
    [ -n "$tok" ] && hdr=(-H "Authorization: Bearer $tok")
    [ -n "$WRK_CPUS" ] && pin=(taskset -c "$WRK_CPUS")
    bounded "$out" $((secs + 30)) "${pin[@]}" wrk -t1 -c"$WRK_CONNS" -d"${secs}s" "${hdr[@]}" "$@" \
        "http://127.0.0.1:$port/"
}
