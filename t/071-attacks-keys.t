# Attack catalogue, key side (issue "Hardening"): key material that would let
# a token verify in ways it must not is a configuration error, so nginx refuses
# to start (and "nginx -s reload" keeps the old keys).  Each block is a must_die
# with the exact [emerg] line.
#
#   EC point not on its curve (y + 1, (0,0), coordinates = p, a secp256k1 point
#   under "crv":"P-256")                 "EC key has invalid point"
#   EC coordinates of another size       "EC key coordinates must be 32 bytes"
#   one bad JWK among good ones          the whole JWKS is refused ("JWK #2")
#   PEM SPKI with an off-curve point     "cannot parse public key"
#   RSA e = 1 or even, n even            "RSA public exponent / modulus is invalid"
#
# The JWKs are t/keys/ec256.jwk, ec384.jwk and rsa.jwk (test-only keys) with the
# members changed as each block says (test data, so inline; TEST 7's good key is read
# from t/keys).  Token-side attacks: t/070-attacks.t.

use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # jwk(), jwks(): the keys of t/keys, read at run time

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a P-256 JWK whose y is the real key's y + 1 (not on the curve) stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec-y-plus-1.jwk;
    }
--- user_files
>>> ec-y-plus-1.jwk
{"kty": "EC", "kid": "ec256", "crv": "P-256", "x": "O0rV9VEusEJFmvmVkg-_sCGwVipS0QTaoyDKFi9tGL4", "y": "K6QFcO16_2qrTfYSUeCYy8taTr4atOQyZ5iOUpaUx-A"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/ec-y-plus-1\.jwk": JWK #1: EC key has invalid point in \S+nginx\.conf:\d+/



=== TEST 2: a P-256 JWK with x = y = 0 stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec-zero.jwk;
    }
--- user_files
>>> ec-zero.jwk
{"kty": "EC", "kid": "ec256", "crv": "P-256", "x": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "y": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/ec-zero\.jwk": JWK #1: EC key has invalid point/



=== TEST 3: a P-256 JWK with x = y = p (the field prime, out of range) stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec-p.jwk;
    }
--- user_files
>>> ec-p.jwk
{"kty": "EC", "kid": "ec256", "crv": "P-256", "x": "_____wAAAAEAAAAAAAAAAAAAAAD_______________8", "y": "_____wAAAAEAAAAAAAAAAAAAAAD_______________8"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/ec-p\.jwk": JWK #1: EC key has invalid point/



=== TEST 4: a point of another 256-bit curve (the secp256k1 generator) under "crv":"P-256" stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec-secp256k1.jwk;
    }
--- user_files
>>> ec-secp256k1.jwk
{"kty": "EC", "kid": "ec256", "crv": "P-256", "x": "eb5mfvncu6xVoGKVzocLBwKb_NstzijZWfKBWxb4F5g", "y": "SDradyajxGVdpPv8DhEIqP0XtEimhVQZnEfQj_sQ1Lg"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/ec-secp256k1\.jwk": JWK #1: EC key has invalid point/



=== TEST 5: P-384 coordinates under "crv":"P-256" stop nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec-p384-coords.jwk;
    }
--- user_files
>>> ec-p384-coords.jwk
{"kty": "EC", "kid": "ec256", "crv": "P-256", "x": "OFLv_fkhlNmK57PaVsaxygjLbdXCCcutacLoYQ-vVplP1aRugf3rmYvZKIkID1a5", "y": "0zGS3-bo7S4TbLElVfb7gNavXcOw48A-sScbuDmG6WONKKsxqQKFGDES1z2mDE_w"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/ec-p384-coords\.jwk": JWK #1: EC key coordinates must be 32 bytes for P-256/



=== TEST 6: a 31-byte x (a leading byte dropped) stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec-short-x.jwk;
    }
--- user_files
>>> ec-short-x.jwk
{"kty": "EC", "kid": "ec256", "crv": "P-256", "x": "StX1US6wQkWa-ZWSD7-wIbBWKlLRBNqjIMoWL20Yvg", "y": "K6QFcO16_2qrTfYSUeCYy8taTr4atOQyZ5iOUpaUx98"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/ec-short-x\.jwk": JWK #1: EC key coordinates must be 32 bytes for P-256/



=== TEST 7: one off-curve JWK after a good one fails the whole JWKS
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/jwks-second-bad.jwks;
    }
--- user_files eval
# the good key is t/keys/rsa.jwk; the bad one is ec256.jwk with y + 1 (as in TEST 1)
[ [ "jwks-second-bad.jwks", main::jwks(main::jwk("rsa"),
    '{"kty": "EC", "kid": "ec256", "crv": "P-256", "x": "O0rV9VEusEJFmvmVkg-_sCGwVipS0QTaoyDKFi9tGL4", "y": "K6QFcO16_2qrTfYSUeCYy8taTr4atOQyZ5iOUpaUx-A"}') ] ]
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/jwks-second-bad\.jwks": JWK #2: EC key has invalid point/



=== TEST 8: a PEM public key whose point is not on the curve stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/pem-off-curve.pem;
    }
--- user_files
>>> pem-off-curve.pem
-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEO0rV9VEusEJFmvmVkg+/sCGwVipS
0QTaoyDKFi9tGL4rpAVw7Xr/aqtN9hJR4JjLy1pOvhq05DJnmI5SlpTH4A==
-----END PUBLIC KEY-----
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/pem-off-curve\.pem": PEM block #1 \(PUBLIC KEY\): cannot parse public key/



=== TEST 9: an RSA JWK with e = 1 (signature = message) stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa-e1.jwk;
    }
--- user_files
>>> rsa-e1.jwk
{"kty": "RSA", "kid": "rsa", "n": "rC5XVvh4_ctlhlREw2mUH-mgEUX2knr7LgVlpjbytom5UN82wHPhTAxuCXhk46AG-ZYyal58Q8s3LBy8YriT67c3Y2_m5o4X43NvG7cEqpxQSQ1Qsxql8uNQ0bu56jVX4cLcRKqKQbjV8v7vB0t0OX2wJFX29miTVciNFEe6GIr7rr3h0ulaBtOwJglFhxRPiUKC8V3jA6RFbYWwenowAFX4zTmMGUEvAE-jfcMGZ1fKoBc4NnruhincZIsJdufOOffQFdYpSk4xbkyEn4qK-ZTnl-zmjwuY2-n4duQXuDVhSDkn9u_TtOz8yKPUugsgyKW2sd82-NX73gQfSuDZLQ", "e": "AQ"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/rsa-e1\.jwk": JWK #1: RSA public exponent is invalid/



=== TEST 10: an RSA JWK with an even e stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa-e-even.jwk;
    }
--- user_files
>>> rsa-e-even.jwk
{"kty": "RSA", "kid": "rsa", "n": "rC5XVvh4_ctlhlREw2mUH-mgEUX2knr7LgVlpjbytom5UN82wHPhTAxuCXhk46AG-ZYyal58Q8s3LBy8YriT67c3Y2_m5o4X43NvG7cEqpxQSQ1Qsxql8uNQ0bu56jVX4cLcRKqKQbjV8v7vB0t0OX2wJFX29miTVciNFEe6GIr7rr3h0ulaBtOwJglFhxRPiUKC8V3jA6RFbYWwenowAFX4zTmMGUEvAE-jfcMGZ1fKoBc4NnruhincZIsJdufOOffQFdYpSk4xbkyEn4qK-ZTnl-zmjwuY2-n4duQXuDVhSDkn9u_TtOz8yKPUugsgyKW2sd82-NX73gQfSuDZLQ", "e": "AQAA"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/rsa-e-even\.jwk": JWK #1: RSA public exponent is invalid/



=== TEST 11: an RSA JWK with an even modulus stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa-n-even.jwk;
    }
--- user_files
>>> rsa-n-even.jwk
{"kty": "RSA", "kid": "rsa", "n": "rC5XVvh4_ctlhlREw2mUH-mgEUX2knr7LgVlpjbytom5UN82wHPhTAxuCXhk46AG-ZYyal58Q8s3LBy8YriT67c3Y2_m5o4X43NvG7cEqpxQSQ1Qsxql8uNQ0bu56jVX4cLcRKqKQbjV8v7vB0t0OX2wJFX29miTVciNFEe6GIr7rr3h0ulaBtOwJglFhxRPiUKC8V3jA6RFbYWwenowAFX4zTmMGUEvAE-jfcMGZ1fKoBc4NnruhincZIsJdufOOffQFdYpSk4xbkyEn4qK-ZTnl-zmjwuY2-n4duQXuDVhSDkn9u_TtOz8yKPUugsgyKW2sd82-NX73gQfSuDZLA", "e": "AQAB"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/rsa-n-even\.jwk": JWK #1: RSA modulus is invalid/



=== TEST 12: an Ed25519 JWK whose x is a small-order point (the identity) stops nginx
# OpenSSL accepts the signature R = identity, S = 0 for ANY message under this key: with it in
# scope,
#   eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJmb3JnZWQifQ.AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
# (alg EdDSA, payload {"sub":"forged"}, signature 0x01 and 63 zero bytes) was let through
# before the key loader refused small-order Ed25519 points.
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ed25519-identity.jwk;
    }
--- user_files
>>> ed25519-identity.jwk
{"kty": "OKP", "kid": "ed", "crv": "Ed25519", "x": "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/ed25519-identity\.jwk": JWK #1: Ed25519 key is a point of small order/
