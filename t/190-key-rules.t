# Key rules: RSA keys under 1024 bits and RSA moduli with the ROCA fingerprint
# (CVE-2017-15361) are refused at nginx -t (file, key number, size); in key sets read at run
# time (auth_jwt_key_request, auth_jwt_key_file with variables) such a key is skipped with an
# [error] line naming its source and the rest of the set is used. A duplicate kid in one file
# draws a [warn]; auth_jwt_type encrypted warns about public-key decryption keys (they
# authenticate nothing); an RSA1_5 key is "not supported".
# HMAC keys (RFC 7518, section 3.2): an oct signature key shorter than the hash of its JWK alg
# (32 bytes without alg) is refused like a short RSA key, and a key without alg serves only
# the HS algorithms it is long enough for. Mixed key sets (Wycheproof's MixedKeySet): a JWKS
# that holds public keys must not hold an oct signature key (it is refused at nginx -t, and
# skipped at run time); the same keys from two files still combine.
#
# Tokens (t/keys, core's jwt-mint; exp 4102444800 is 2100-01-01):
#   alice:   keys/rsa.key,    kid "rsa"
#   bob:     keys/rsa2.key,   kid "rsa" (the duplicate kid of TEST 4)
#   mallory: keys/rsa512.key, kid "rsa512"
#   carol:   keys/ec256.key,  kid "ec256", ES256
#   dave:    keys/hmac.secret, kid "hmac", HS256
#   erin256, erin384: the 32-byte secret "0123456789abcdef0123456789abcdef", no kid, HS256 and
#            HS384
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), key_files(): the keys of t/keys, read at run time

our %T = (
    alice   => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.qAP5Xkin-Tyt2D8EUYTJRs1RS1YeOx7WxuMHUPsO039comjRXPN4U3UXIXrl3fRCYecP76dp3Pf9PVJaZHVtNlzwhlBMeWpvu1COe9IVo47J0TC7lp5toEeQd2xUMlDfFOrD01TRhjQY4Jij6rv0IuJgBtmq697IkWuZc8wU1XNdjy-c6O6ab9y0sGuZRH_6p1ol95nZg3bo6_NbKoGUqCKd-rYQzp306Pq6VWAgds8I_a5qCavX5Y-ohD9M7cLO-FC6_A8gRvJRDwjBtz6yPYaDBmJPUa-5p8rpXQn272NwUIFVdsVtXm0gMSdVwxu4ooamAONlxp8nhxS4YJNopA',
    bob     => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDB9.NyG_QmkjY_rexcrsX30kTRz5NpItCmoSNfZLvVMlcFsgmHhxRBSSRYQmEbmSf-b13yHrkGSE_cKwgmVUjk5pfA8ipa-N3plpSmaOnVXuFI3E0eyqGwXrwwIlEf6V2nRLaJGnSaO_BPo92kBawj1vw-tXyQM6L3wRdCluNd2Xr9N0opBSwwRLH2hEDneqXJD0pAbDvb_8O_8_BjBpvvkA-0u3zO7YD7EcN_zyEsrg1VcJQUGYMhEf9_nZXEoCnfMu8VEVxTeqKIVVnTQoNE5bL1gH7JmrE_1_Ol_z9QRwfUtNNsEpm5a7sRPSuYtGczLe7siIOwjKAieJ-dNtLCOI-A',
    mallory => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYTUxMiJ9.eyJzdWIiOiJtYWxsb3J5IiwiZXhwIjo0MTAyNDQ0ODAwfQ.jDySwppzF-bxqaQtWwDhfzyefmh6haKPsqBjeb80LTK-siP3X-9TjvfvlnOM14JOFKNBFIKMSm3dzpJ10Z6k6A',
    carol   => 'eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImVjMjU2In0.eyJzdWIiOiJjYXJvbCIsImV4cCI6NDEwMjQ0NDgwMH0.ghYtIUAiT5oDRn0tx5dcQ-P8G_x_3C9GE6_5SYGPlsKmM1XBhmnc77JA_J1v5T-DRZy0rxf7bmB-a9KdB1i7qg',
    dave    => 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImhtYWMifQ.eyJzdWIiOiJkYXZlIiwiZXhwIjo0MTAyNDQ0ODAwfQ.Fgh9ov6qbHFwP1x1M071-11yhsGiJqdTvf_1KRhclPM',
    erin256 => 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcmluIiwiZXhwIjo0MTAyNDQ0ODAwfQ.XdF0OVjLTKCt4rY0IRsf75KBomfkh0qnPbLesoCFlYQ',
    erin384 => 'eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcmluIiwiZXhwIjo0MTAyNDQ0ODAwfQ.Qpd5qxPD3mJf7lCCPgdMEuwodrwitfXYgTrvfJc2yBAmapFfeKVCfVKO5vVHHSYe',
);
sub bearer { return "Authorization: Bearer $T{$_[0]}" }

# Wycheproof json_web_key_test.json, group "jws_rsa_roca_key" (tcId 7,
# rejectsKeyWithRocaVulnerability): the public key, a 2049-bit modulus with the ROCA
# fingerprint.
add_files(
    'roca.jwk' => q({"kty": "RSA", "alg": "RS256", "use": "sig", "kid": "kid-rsa-roca-sign", "e": "AQAB", "n": "AanFpofbj7KjD4Lf-N2hVMKR7yewSyXhhbirIMTGpfYEhZ_lnt5UoK98DnKIgArXGTu3MaW_HhFw16HGaTDUHqPrId7fe4r11CqRw09yBFuW79V8sYIwHdzCaWflUI6auImYbVfoN9_nD5n8N8SY9DwXw7mwZM9wREPXoDPgOoIWl6q_MPsp7n0zs3Z5ZaiQWOOzl1S9OhwAfSiiOwz6efnXEaxuTEtPd7BjSx7NaFka8Dx9U7YqXy2RFj1O9PjyaDGuRh7YXsX3iMUSP_wSyHQg_c_qHRtKUsNSGCT7OZg0hzm2KphtjnayKJvC64vAbROBR4Ubg6Bxg9IQVZ-QYyE"}) . "\n",
    'weak_and_good.jwks' => jwks(jwk('rsa512'), jwk('rsa')),
    'dup.jwks'           => jwks(jwk('rsa'), jwk('ec256'), jwk('rsa2', kid => 'rsa')),
    'rsa_oaep.jwk'       => rsa_private_jwk('rsa2', use => 'enc', alg => 'RSA-OAEP') . "\n",
    'a128kw.jwk'         => qq({"kty": "oct", "kid": "kw", "use": "enc", "alg": "A128KW", "k": "GZy6sIZ6wl9NJOKB-jnmVQ"}\n),
    'rsa1_5.jwk'         => rsa_private_jwk('rsa2', use => 'enc', alg => 'RSA1_5') . "\n",
    # hmac.jwk, then a 40-byte secret with alg HS384 (which needs 48)
    'short_hs384.jwks'   => jwks(jwk('hmac'), '{"kty": "oct", "kid": "short", "alg": "HS384", "k": "YS00MC1ieXRlLXNlY3JldC1mb3ItYW4taHMzODQta2V5LTAxMjM0NQ"}'),
    # the 32-byte secret of erin's tokens, no alg
    'hmac32.jwk'         => qq({"kty": "oct", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}\n),
    # an EC key and an oct key in one JWKS (Wycheproof's jws_mixedSymmetryKeyset)
    'mixed.jwks'         => jwks(jwk('ec256'), jwk('hmac')),
);

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a 512-bit RSA key (PEM) stops nginx -t: file, key number, size
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa512.pub;
    }
--- user_files eval
main::key_files("rsa512.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/rsa512\.pub": PEM block #1 \(PUBLIC KEY\): RSA key of 512 bits is refused: shorter than 1024 bits in \S+nginx\.conf:\d+/



=== TEST 2: a 512-bit RSA key in a JWKS stops nginx -t, whatever the other keys
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/weak_and_good.jwks;
    }
--- user_files eval
main::key_files("weak_and_good.jwks")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/weak_and_good\.jwks": JWK #1: RSA key of 512 bits is refused: shorter than 1024 bits in \S+nginx\.conf:\d+/



=== TEST 3: the ROCA key of Wycheproof stops nginx -t
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/roca.jwk;
    }
--- user_files eval
main::key_files("roca.jwk")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/roca\.jwk": JWK #1: RSA key of 2049 bits is refused: its modulus has the ROCA fingerprint \(CVE-2017-15361, Infineon key generation\), its private key can be computed from the public key; generate a new key in \S+nginx\.conf:\d+/



=== TEST 4: a duplicate kid in one file draws a [warn] with both key numbers; both keys are tried (bob's key is JWK #3)
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/dup.jwks;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("dup.jwks")
--- request
GET /t
--- more_headers eval
main::bearer("bob")
--- error_code: 200
--- response_body
sub=bob
--- error_log eval
qr/\[warn\] .*auth_jwt_key_file: "\S+\/dup\.jwks": JWK #3 has the same kid "rsa" as JWK #1; tokens with this kid are checked against both, in file order in \S+nginx\.conf:\d+/



=== TEST 5: auth_jwt_type encrypted with an RSA-OAEP key warns: it authenticates nothing
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_type encrypted;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_oaep.jwk;
    }
--- user_files eval
main::key_files("rsa_oaep.jwk")
--- request
GET /t
--- error_code: 401
--- error_log eval
qr/\[warn\] .*auth_jwt_key_file: "\S+\/rsa_oaep\.jwk": with "auth_jwt_type encrypted" a token encrypted to a public key \(RSA-OAEP\*, ECDH-ES\*\) authenticates nothing: anyone holding the public key can make one that is accepted; use auth_jwt_type nested to authenticate the sender in \S+nginx\.conf:\d+/



=== TEST 6: auth_jwt_type encrypted with a symmetric key (A128KW) does not warn; nested with the RSA-OAEP key does not either
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_type encrypted;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/a128kw.jwk;
    }
    location /n {
        auth_jwt "test";
        auth_jwt_type nested;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_oaep.jwk;
    }
--- user_files eval
main::key_files("a128kw.jwk", "rsa.pub", "rsa_oaep.jwk")
--- request
GET /t
--- error_code: 401
--- no_error_log
authenticates nothing
[emerg]



=== TEST 7: an RSA1_5 key in an encrypted location: "RSA1_5 is not supported"
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_type encrypted;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa1_5.jwk;
    }
--- user_files eval
main::key_files("rsa1_5.jwk")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/rsa1_5\.jwk": JWK #1: alg "RSA1_5" is not supported: RSAES-PKCS1-v1_5 key management invites padding oracle attacks \(use RSA-OAEP-256\) \(loading decryption keys\) in \S+nginx\.conf:\d+/



=== TEST 8: auth_jwt_key_request: a 512-bit key of the answer is skipped with an [error] naming the URI; the good key verifies
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/weak_and_good.jwks;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("weak_and_good.jwks")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer("alice"), main::bearer("mallory")]
--- error_code eval
[200, 401]
--- response_body eval
["sub=alice\n", "status=no_key\n"]
--- error_log eval
qr/\[error\] .*auth_jwt: auth_jwt_key_request: "\/_jwks": JWK #1: RSA key of 512 bits is refused: shorter than 1024 bits; the key is skipped \(error\), client: 127\.0\.0\.1, request: "GET \/t"/



=== TEST 9: auth_jwt_key_file with variables: a 512-bit key is skipped with an [error] naming the file; the good key verifies
--- config
    location /t {
        auth_jwt "kf";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/$arg_set.jwks;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("weak_and_good.jwks")
--- request
GET /t?set=weak_and_good
--- more_headers eval
main::bearer("alice")
--- error_code: 200
--- response_body
sub=alice
--- error_log eval
qr/\[error\] .*auth_jwt: auth_jwt_key_file: "\S+\/weak_and_good\.jwks": JWK #1: RSA key of 512 bits is refused: shorter than 1024 bits; the key is skipped \(error\)/



=== TEST 10: an HMAC key shorter than the hash of its alg stops nginx -t: file, key number, sizes
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/short_hs384.jwks;
    }
--- user_files eval
main::key_files("short_hs384.jwks")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/short_hs384\.jwks": JWK #2: HMAC key of 40 bytes is refused: HS384 needs at least 48 bytes \(RFC 7518, section 3\.2\) in \S+nginx\.conf:\d+/



=== TEST 11: a 32-byte HMAC key without alg verifies HS256 but is no key for HS384
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac32.jwk;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub alg=$jwt_header_alg\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("hmac32.jwk")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer("erin256"), main::bearer("erin384")]
--- error_code eval
[200, 401]
--- response_body eval
["sub=erin alg=HS256\n", "status=no_key\n"]
--- no_error_log
[warn]
[emerg]



=== TEST 12: a JWKS that holds an EC key and an oct key stops nginx -t: the oct key is named
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/mixed.jwks;
    }
--- user_files eval
main::key_files("mixed.jwks")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/mixed\.jwks": JWK #2: a key set that holds public keys must not also hold secret \(oct\) keys: a published key set would publish the secret; put the oct key in a file of its own in \S+nginx\.conf:\d+/



=== TEST 13: the same EC and oct keys from two files at one level: both verify
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.jwk;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("ec256.jwk", "hmac.jwk")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer("carol"), main::bearer("dave")]
--- error_code eval
[200, 200]
--- response_body eval
["sub=carol\n", "sub=dave\n"]
--- no_error_log
[warn]
[emerg]



=== TEST 14: auth_jwt_key_request answering a mixed JWKS: the oct key is skipped with an [error] naming the URI; the EC key verifies
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/mixed.jwks;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("mixed.jwks")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer("carol"), main::bearer("dave")]
--- error_code eval
[200, 401]
--- response_body eval
["sub=carol\n", "status=no_key\n"]
--- error_log eval
qr/\[error\] .*auth_jwt: auth_jwt_key_request: "\/_jwks": JWK #2: a key set that holds public keys must not also hold secret \(oct\) keys: a published key set would publish the secret; put the oct key in a file of its own; the key is skipped \(error\), client: 127\.0\.0\.1, request: "GET \/t"/
