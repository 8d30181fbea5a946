# Shared helpers for the scripts in this directory (sourced, not run).
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# Debian/Ubuntu packages the build and the tests need.
APT_PACKAGES=(
    build-essential pkg-config clang libclang-dev
    libssl-dev libpcre2-dev zlib1g-dev
    perl openssl curl ca-certificates
)

# Installs what is missing (apt) and checks for a Rust toolchain.
install_deps() {
    local missing=() p
    for p in "${APT_PACKAGES[@]}" "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing: ${missing[*]}"
        local sudo=
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        [ -x "$HOME/.cargo/bin/cargo" ] && export PATH="$HOME/.cargo/bin:$PATH"
    fi
    if ! command -v cargo >/dev/null 2>&1; then
        log "no Rust toolchain: installing rustup (https://rustup.rs)"
        curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal \
            || die "install Rust 1.85 or newer (https://rustup.rs) and run this again"
        export PATH="$HOME/.cargo/bin:$PATH"
    fi
    local v
    v=$(rustc --version | sed -n 's/^rustc 1\.\([0-9]*\).*/\1/p')
    [ "${v:-0}" -ge 85 ] || die "Rust 1.85 or newer is needed ($(rustc --version)); run: rustup update"
    # cargo fmt and cargo clippy, which scripts/test runs (a minimal rustup profile has neither).
    # Without rustup (a distribution's Rust), whatever is installed is used: the lint stage
    # fails if it is missing.
    local c comps=()
    for c in fmt:rustfmt clippy:clippy; do
        cargo "${c%%:*}" --version >/dev/null 2>&1 || comps+=("${c#*:}")
    done
    if [ ${#comps[@]} -gt 0 ]; then
        if command -v rustup >/dev/null 2>&1; then
            log "installing Rust components: ${comps[*]}"
            rustup component add "${comps[@]}" || die "rustup component add ${comps[*]} failed"
        else
            log "warning: no rustup to install ${comps[*]}: the lint stage of scripts/test will fail"
        fi
    fi
}

# Builds the module against the vendored nginx 1.28 (which is built too).
# Sets MODULE (the .so) and NGINX_BIN (the matching nginx binary).
build_vendored() {
    local profile=${PROFILE:-release} flag=--release
    [ "$profile" = debug ] && flag=
    log "building the module against the vendored nginx ($profile)"
    (cd "$ROOT" && cargo build $flag --locked -p ngx_http_auth_jwt_module) || die "build failed"
    local dir="$ROOT/target/$profile"
    MODULE="$dir/ngx_http_auth_jwt_module.so"
    # A new file, renamed into place: an nginx that has the old one loaded keeps its copy
    # (writing into a loaded .so crashes the processes that mapped it).
    cp "$dir/libngx_http_auth_jwt_module.so" "$MODULE.tmp.$$" && mv -f "$MODULE.tmp.$$" "$MODULE"
    NGINX_BIN="$(head -n1 "$dir/nginx-build-dir")/nginx"
    [ -x "$NGINX_BIN" ] || die "vendored nginx binary not found at $NGINX_BIN"

}
