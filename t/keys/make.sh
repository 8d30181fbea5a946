#!/bin/sh
# Regenerates the TEST-ONLY key material in this directory (never use these keys
# anywhere else: the private keys are public, they are committed on purpose).
#
#   t/keys/make.sh            # needs openssl (1.1.1+/3.x) and python3 (stdlib only)
#
# Regenerating replaces every key, so every token embedded in t/*.t and t/fault/*.t
# must be minted again afterwards (jwt-mint, see core/src/bin/jwt-mint.rs). That is
# all: no .t file holds a copy of a key; they read the files below at run time
# through t/TestKeys.pm (key files derived from them, e.g. JWKs with extra members
# or the private JWK of rsa2.key, are built from them there too).
#
# Files (*.key = private PEM PKCS#8, *.pub = public PEM SPKI):
#   rsa.key rsa.pub          RSA 2048, the main key (RS*/PS* tokens)
#   rsa.pkcs1.pub            the same public key as "RSA PUBLIC KEY" (PKCS#1)
#   rsa.crt                  self-signed certificate of rsa.key
#   rsa2.key rsa2.pub        a second, unrelated RSA 2048 key
#   rsa1024.key rsa1024.pub  RSA 1024 (must draw a [warn])
#   rsa512.key rsa512.pub    RSA 512 (must be refused)
#   ec256/ec384/ec521.{key,pub}   ECDSA P-256, P-384, P-521
#   ed25519.{key,pub} ed448.{key,pub}
#   hmac.secret              64 random bytes, HMAC secret (raw, for jwt-mint --hmac)
#   *.jwk                    one public JWK per key, with "kid" = file stem
#   hmac.jwk                 kty "oct" JWK of hmac.secret, kid "hmac"
#   jwks.json                JWKS of every public key above except rsa1024, rsa512, rsa2, hmac
set -eu
cd "$(dirname "$0")"

pkcs8() { # name genpkey-args...
    name=$1; shift
    openssl genpkey "$@" -out "$name.key" 2>/dev/null
    openssl pkey -in "$name.key" -pubout -out "$name.pub"
}

pkcs8 rsa     -algorithm RSA -pkeyopt rsa_keygen_bits:2048
pkcs8 rsa2    -algorithm RSA -pkeyopt rsa_keygen_bits:2048
pkcs8 rsa1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
pkcs8 rsa512  -algorithm RSA -pkeyopt rsa_keygen_bits:512
pkcs8 ec256   -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve
pkcs8 ec384   -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve
pkcs8 ec521   -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -pkeyopt ec_param_enc:named_curve
pkcs8 ed25519 -algorithm ED25519
pkcs8 ed448   -algorithm ED448

openssl rsa -in rsa.key -RSAPublicKey_out -out rsa.pkcs1.pub 2>/dev/null
openssl req -new -x509 -key rsa.key -subj /CN=auth-jwt-test -days 36500 \
    -sha256 -out rsa.crt 2>/dev/null
openssl rand -out hmac.secret 64

python3 - <<'PY'
import base64, json, subprocess

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()

def der(name):
    return subprocess.run(["openssl", "pkey", "-pubin", "-in", name + ".pub",
                           "-outform", "DER"], check=True, capture_output=True).stdout

def rsa(name):
    mod = subprocess.run(["openssl", "rsa", "-pubin", "-in", name + ".pub", "-noout",
                          "-modulus"], check=True, capture_output=True, text=True).stdout
    n = bytes.fromhex(mod.strip().split("=", 1)[1])
    return {"kty": "RSA", "kid": name, "n": b64u(n), "e": "AQAB"}

def ec(name, crv, size):
    point = der(name)[-(1 + 2 * size):]
    assert point[0] == 4
    return {"kty": "EC", "kid": name, "crv": crv,
            "x": b64u(point[1:1 + size]), "y": b64u(point[1 + size:])}

def okp(name, crv, size):
    return {"kty": "OKP", "kid": name, "crv": crv, "x": b64u(der(name)[-size:])}

jwks = {
    "rsa": rsa("rsa"), "rsa2": rsa("rsa2"), "rsa1024": rsa("rsa1024"),
    "rsa512": rsa("rsa512"),
    "ec256": ec("ec256", "P-256", 32), "ec384": ec("ec384", "P-384", 48),
    "ec521": ec("ec521", "P-521", 66),
    "ed25519": okp("ed25519", "Ed25519", 32), "ed448": okp("ed448", "Ed448", 57),
    "hmac": {"kty": "oct", "kid": "hmac",
             "k": b64u(open("hmac.secret", "rb").read())},
}
for name, jwk in jwks.items():
    with open(name + ".jwk", "w") as f:
        json.dump(jwk, f)
        f.write("\n")
with open("jwks.json", "w") as f:
    keys = [jwks[n] for n in ("rsa", "ec256", "ec384", "ec521", "ed25519", "ed448")]
    json.dump({"keys": keys}, f, indent=1)
    f.write("\n")
PY
echo "keys written to $(pwd)"
