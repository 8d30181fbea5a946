# Every configuration example of NGINX Plus's JWT documentation, run against this module:
#
#   [ref]   the reference, https://nginx.org/en/docs/http/ngx_http_auth_jwt_module.html
#   [guide] the admin guide "Setting up JWT Authentication",
#           https://docs.nginx.com/nginx/admin-guide/security-controls/configuring-jwt-authentication/
#
# Each block names its example. The example's own directives are kept as written; what had to
# change is marked "# test:" (local key files instead of conf/..., a unix-socket server standing
# in for the upstream api_server / my_backend and for idp.example.com, cache paths under the
# server root, named *_cache so that every block starts with an empty cache under either
# runner, proxy_set_header lines that let the backend show who was let in). Where an
# example differs from this module on purpose, the block checks this module's behaviour and
# says why (see "Migrating from NGINX Plus" in docs/migrating.md).
#
# Tokens are static, "exp" 4102444800 (2100-01-01), minted with core's jwt-mint and the
# test-only keys of t/keys; the JWE tokens with --encrypt-to (dir + A256GCM with the "oct" key
# jwe-dir; RSA-OAEP-256 + A256GCM to t/keys/rsa2.pub; nested: A256KW + A256GCM around an
# HS256 JWS), their keys are the JWKs below. Each JWE was also decrypted with Python's
# "cryptography" package before it was put here.
use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), rsa_private_jwk(), jwks(): the keys of t/keys, read at run time

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our %FILE = (
    'jwks.json' => key('jwks.json'),        # rsa, ec256, ec384, ec521, ed25519, ed448
    'rsa2.jwk'  => key('rsa2.jwk'),
    'hmac.jwk'  => key('hmac.jwk'),         # kid "hmac", 64-byte HMAC secret
    # [guide] "Creating a JSON Web Key File", verbatim: the secret "fantasticjwt" (12 bytes:
    # refused, see TEST 13).
    'fantastic.jwk' => <<'_EOC_',
{"keys":
    [{
        "k":"ZmFudGFzdGljand0",
        "kty":"oct",
        "kid":"0001"
    }]
}
_EOC_
    # JWE "dir" + A256GCM key (kid jwe-dir)
    'jwe-dir.jwk' => '{"kty": "oct", "kid": "jwe-dir", "use": "enc", "alg": "dir", "k": "VYp1QNzw6E16iJ9CN2X6uG_qwiC58iiCYZn7Pu7PWYY"}',
    # JWE RSA-OAEP-256 private key: t/keys/rsa2.key as a JWK (kid jwe-rsa)
    'private_jwe_keys.jwk' => jwks(rsa_private_jwk('rsa2', kid => 'jwe-rsa', use => 'enc', alg => 'RSA-OAEP-256')),
    # nested: A256KW key (kid enc) and HS256 key of the enclosed JWS (kid sig)
    'api_secret_nested.jwk' => '{"keys": [{"kty": "oct", "kid": "enc", "use": "enc", "alg": "A256KW", "k": "0wKI9SCMQDfOScZbdrzGD8YpNqTtPhs_gt-wuvl1rzM"}, {"kty": "oct", "kid": "sig", "use": "sig", "alg": "HS256", "k": "e6_eaIcVHWdw75PvKdogI8F6dI7RjhMu_t3PErPYUwA"}]}',
    'index.html' => "closed site content\n",
);

# files("as=from", "name", ...): user_files entries (html dir) with the contents of %FILE.
sub files {
    return [ map { my ($as, $from) = split /=/, $_, 2; [ $as, $FILE{ $from // $as } ] } @_ ];
}

our %TOK = (
    alice            => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.qAP5Xkin-Tyt2D8EUYTJRs1RS1YeOx7WxuMHUPsO039comjRXPN4U3UXIXrl3fRCYecP76dp3Pf9PVJaZHVtNlzwhlBMeWpvu1COe9IVo47J0TC7lp5toEeQd2xUMlDfFOrD01TRhjQY4Jij6rv0IuJgBtmq697IkWuZc8wU1XNdjy-c6O6ab9y0sGuZRH_6p1ol95nZg3bo6_NbKoGUqCKd-rYQzp306Pq6VWAgds8I_a5qCavX5Y-ohD9M7cLO-FC6_A8gRvJRDwjBtz6yPYaDBmJPUa-5p8rpXQn272NwUIFVdsVtXm0gMSdVwxu4ooamAONlxp8nhxS4YJNopA',
    bob_rsa2         => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYTIifQ.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDB9.vkyPe1iDk3ui2QtxPZLgQd96g0tIdXuB66GktRTh3NVXAGnefGqX84fmOsjnhlTlF1ZkKhFtXKbD4sErfWZFV67hrtkYQHMhrrKlcaLWPfNDoatKj9pN0A7yJUPycj84_wHCIYjRpxK6Xa9YL8PslabKKKEoVHPx51OYZQmElWuobOUpJN0HYuIzQJIL7HNf0I9RrB3oFGlwIlZR2krjBobIfGYMaHmSa6vaXeoj95v2Zhmwvv7xfsd1MlHENQzN73EX0Aa-PCSjGrkSHyBc3JXbWk9YV-B0Tp5iDpgA5x4OQAMjakzgRAAles94ppTAHGD4nJKqIEwmTzNtLBqMew',
    carol_ec256      => 'eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImVjMjU2In0.eyJzdWIiOiJjYXJvbCIsImV4cCI6NDEwMjQ0NDgwMH0.ghYtIUAiT5oDRn0tx5dcQ-P8G_x_3C9GE6_5SYGPlsKmM1XBhmnc77JA_J1v5T-DRZy0rxf7bmB-a9KdB1i7qg',
    mallory_rsa1024  => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJzdWIiOiJtYWxsb3J5IiwiZXhwIjo0MTAyNDQ0ODAwfQ.e-jIgIk8vdrr5m4W2aHWVpqS5QZVTnx28dMToQfLuYuNwhUPlzje_G3lUk6yV2yBkro6U_N_WWo4S8oMq7uDiKnzTU67VYuR07WfjjFaAivGfECq35Zf7XBkPWT8w19igfF982utYcsNElNDpOC6CRitChZ2KsWTbkftCrnpVeM',
    info             => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJzdWIiOiJhbGljZSIsImluZm8iOnsiZS1tYWlsIjoiYWxpY2VAZXhhbXBsZS5jb20iLCJqb2IgdGl0bGUiOiJBUEkgZW5naW5lZXIifSwiZXhwIjo0MTAyNDQ0ODAwfQ.QRy6KcaHaOiECIDXvMjuJ-qBNMjnBPI_m2GmCNTd7Y1aVQYnul4YRLkErlP0P3l_YiwyC1S8OgW9jNnPcQN-pRNFe359qj5afcVG-lLW6tdG_SAE7h5PUjv1M_VD0bIU14QxFhEjlfqUQfYvM-782DIXi9N-lJLhbzvhSnSgoQ8ior7SZvv-sIxeoPl_nVdCRhCdsysWI_zMc_vfYA6BiAxiztmZi7rS1XSSqtup3bl82ABYUhNJKu3wP_-hOs2pYV9U0NnKtMm0NK5U2WJF0-GqZrB1-9V8PUe5W7i5u36KBbNqPsJLuGmaGmfkU3__FgD8cPf4fcym82eKlW7wrg',
    iss_good         => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJzdWIiOiJhbGljZSIsImlzcyI6Imdvb2QiLCJleHAiOjQxMDI0NDQ4MDB9.d44QgiMa3gy6A7qjN5EYZLo77EpRo2Dhcq2bw5juysp3XpAuRYuckB6T6K9Q3PQEvDvv0zaHz6DNEOtLtTMYu5NbvDQVtb_01ez_RsCIlWn-n5-_Uq2-PEgoL1BFYdD2PBJJNLUr7orn7gY6iw8mTptbImncvHxkkLbMg-94MpKHc7nYuSpJTrnSC3vFPfym8SZTVUZD05AxZJZM7Uf1GwEfJ4xOpTj9MR2DtKbl6ByEQpkQylAzQpVC7I3HH-Ubl2SRyl_1ml9G_TP-5KZR6sQ7oQXI53tu_sbRau09IUhXdX3K9i5NRg-dRlJrPVOUENBFPcapVxHStK80wNK2aQ',
    iss_bad          => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJzdWIiOiJhbGljZSIsImlzcyI6ImV2aWwiLCJleHAiOjQxMDI0NDQ4MDB9.S5jUA-1XMPrJdVIKiLFdQznGMpoTed762AB9JbczZCjBLj6ID00VR8Y5zE8jAHppPvmnoGEGDLOlvqs7qxuZj43sLAnflujPH__JqERW0PEye420inNXQ1rqr1oMR2VioEgTAQd2jfFVU1HRgRAkUNdRFEnkpAehOeDCh6LftGxdstahtTBkH2iyVvE51yA9_JXBRq4NvfJaGqCatSJuj9GXt1yw0ZGzE-fmb3GqGtOUARcnOS-Ejpe7rZUfozQg3looeiYbbUv5dK6mzJHjsJXiQ93wcdu4l0QCRsdzsIxjbcHPgVk841sESm5PhBGvhpUeKRI4hmZ2RwIm1-ZZ1Q',
    api_ok           => 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImhtYWMifQ.eyJzdWIiOiJhZG1pbiIsImF1ZCI6ImFwaTEuZXhhbXBsZS5jb20iLCJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbS9zdHMiLCJzY29wZSI6ImFjY2Vzc19hc19hZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.U7G84begKIIO6UXO8WdF28iZmFt9JfTqjdJpyChMgQE',
    api_bad_aud      => 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImhtYWMifQ.eyJzdWIiOiJhZG1pbiIsImF1ZCI6Ind3dy5leGFtcGxlLmNvbSIsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUuY29tL3N0cyIsInNjb3BlIjoiYWNjZXNzX2FzX2FkbWluIiwiZXhwIjo0MTAyNDQ0ODAwfQ.I5Go6HgryKwR6Kf8oFTTx8k15Kd2MtmFkkc7B0mrYsU',
    api_bad_iss      => 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImhtYWMifQ.eyJzdWIiOiJhZG1pbiIsImF1ZCI6ImFwaTEuZXhhbXBsZS5jb20iLCJpc3MiOiJodHRwczovL2V2aWwuZXhhbXBsZS5jb20vc3RzIiwic2NvcGUiOiJhY2Nlc3NfYXNfYWRtaW4iLCJleHAiOjQxMDI0NDQ4MDB9.WEGibNLs9gO8OjmxQ172SQheChJRKiUp5O8TwMQWYJw',
    api_user_scope   => 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImhtYWMifQ.eyJzdWIiOiJhZG1pbiIsImF1ZCI6ImFwaTEuZXhhbXBsZS5jb20iLCJpc3MiOiJodHRwczovL2lkcC5leGFtcGxlLmNvbS9zdHMiLCJzY29wZSI6ImFjY2Vzc19hc191c2VyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.EjddIQ_9toMZd-BosgO-YFzls375663WQxF0noBRaMQ',
    jwe_dir          => 'eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiandlLWRpciJ9..-0YLGANoZ7IPhhtX.vbL4X1u6N1hcOl6NyiBptTC5_aP2b96xdQITkfyWTa2FNEM.TzBv41o3f6lxD79X0M_gSg',
    jwe_oaep         => 'eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiandlLXJzYSJ9.HaZD0Sf2OC90pecJ9BqlOcjsl9d4Re4ez_qD4U7cma8wcIcPmegb7FNxcZiFmneiZ-0mfGcYKgWIRlwjyTg2U3mtKEfc_ETRPp5GB89d1KoIa6OSP7jiXPr7HVLW2edX6mzOu_5xXZ4sQxElU2gFjdkAKshI-hcmlzptbXNQ0fIXflt49_GUTk6gBnpQjG25NA4WMfJWiX7RQmtxQ2dFCxDncwTnbnN-t2S0EQ4G2dXdeYPYD4gQ_kA--JD1t44ISYVIv7-eLOeBs2LDYZE74Jz1gG1tZZ5cix46aFXXyUW32RJy3JQQY9uh4wYaV5a1sencsGjMLM7y3rfTKvdkMA.AhMONQ8ftgm9KR8c.SA8o42pfIoiwzAqrSXb_0C_Zk9Fajk7vQqiGCJEnZSOwQWo5.MHJGoi2PR2h0eDDOf2fX1w',
    nested_inner     => 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InNpZyJ9.eyJzdWIiOiJuZXN0ZWQtdXNlciIsImV4cCI6NDEwMjQ0NDgwMH0.a8nXKWpubbSqJRdlaLDOBelIkiT4f2oyXO4mNE1P6Vc',
    nested           => 'eyJhbGciOiJBMjU2S1ciLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiZW5jIiwiY3R5IjoiSldUIn0.jFnxak95XBNgBLAHrx6BlJHDS4Q8o3MF8usraEHgc89Bqrr8ypcrBQ.b6XDkFUfjp79kKdM._O5lQGvKBB-GGXbv7bb1JDk9xuVOHuoCmF2ZmUlxuJy1Kzic2Em0D6i-uF_KHUADFA7c4ZLH4Q3uawcP1DNMQAyy3KMJnJCENmQPxEsGfKgAOCMD1X1n_oKafvbWUJmhqUKDEIEBOSGTprS0pwQ387ZXA9ouGc8NdEIpwWIfKtdtkmLwQMrOMFaUg1AR2Ug2LnItpw.SYipG3GXzNvt4dNfsFwd0Q',
);

no_root_location();
log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: [ref] Example Configuration: auth_jwt + auth_jwt_key_file (JWKS)
--- config
    location / {
        auth_jwt          "closed site";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys.json;     # test: conf/keys.json
    }
--- user_files eval
main::files("keys.json=jwks.json", "index.html")
--- request eval
["GET /index.html", "GET /index.html", "GET /index.html", "GET /index.html"]
--- more_headers eval
["", "Authorization: Bearer $::TOK{alice}", "Authorization: Bearer $::TOK{carol_ec256}", "Authorization: Bearer $::TOK{mallory_rsa1024}"]
--- error_code eval
[401, 200, 200, 401]
--- response_headers eval
['WWW-Authenticate: Bearer realm="closed site"', '!WWW-Authenticate', '!WWW-Authenticate', 'WWW-Authenticate: Bearer realm="closed site", error="invalid_token"']
--- response_body_like eval
[qr/401 Authorization Required/, qr/^closed site content$/, qr/^closed site content$/, qr/401 Authorization Required/]



=== TEST 2: [ref] auth_jwt: the token from a cookie (token=$cookie_auth_token)
--- http_config
    upstream api_server {                                 # test: the backend
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;
    }
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/api.sock;
        location / {
            return 200 "api_server: $request_method $uri sub=$http_x_jwt_sub\n";
        }
    }
--- config
    location / {
        auth_jwt "closed site" token=$cookie_auth_token;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys.json;     # test
        proxy_set_header X-JWT-Sub $jwt_claim_sub;            # test
        proxy_pass http://api_server;                         # test
    }
--- user_files eval
main::files("keys.json=jwks.json")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Cookie: theme=dark; auth_token=$::TOK{alice}", "Authorization: Bearer $::TOK{alice}"]
--- error_code eval
[200, 401]
--- response_body_like eval
[qr/^api_server: GET \/t sub=alice$/, qr/401 Authorization Required/]



=== TEST 3: [ref] auth_jwt_claim_set: $email info e-mail; $job info "job title"
--- http_config
    auth_jwt_claim_set $email info e-mail;
    auth_jwt_claim_set $job info "job title";

    upstream api_server {                                 # test: the backend
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;
    }
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/api.sock;
        location / {
            return 200 "email=$http_x_email job=$http_x_job\n";
        }
    }
--- config
    location / {
        auth_jwt          "closed site";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys.json;     # test
        proxy_set_header  X-Email $email;                     # test
        proxy_set_header  X-Job $job;                         # test
        proxy_pass        http://api_server;                  # test
    }
--- user_files eval
main::files("keys.json=jwks.json")
--- more_headers eval
"Authorization: Bearer $::TOK{info}"
--- request
GET /t
--- error_code: 200
--- response_body
email=alice@example.com job=API engineer



=== TEST 4: [ref] auth_jwt_key_file: several files on the same level (conf/keys.json, conf/key.jwk)
--- config
    location / {
        auth_jwt          "closed site";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys.json;     # test: conf/keys.json
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/key.jwk;       # test: conf/key.jwk
    }
--- user_files eval
main::files("keys.json=jwks.json", "key.jwk=rsa2.jwk", "index.html")
--- request eval
["GET /index.html", "GET /index.html", "GET /index.html"]
--- more_headers eval
["Authorization: Bearer $::TOK{alice}", "Authorization: Bearer $::TOK{bob_rsa2}", "Authorization: Bearer $::TOK{mallory_rsa1024}"]
--- error_code eval
[200, 200, 401]



=== TEST 5: [ref] auth_jwt_key_request: keys from a subrequest, cached with proxy_cache
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/foo_cache levels=1 keys_zone=foo:10m;   # test: /data/nginx/cache
--- config
    location / {
        auth_jwt             "closed site";
        auth_jwt_key_request /jwks_uri;
    }

    location = /jwks_uri {
        internal;
        proxy_cache foo;
        proxy_pass  http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys;   # test: http://idp.example.com/keys
    }

    location = /idp/keys {                                # test: stands in for idp.example.com
        alias $TEST_NGINX_HTML_DIR/keys.json;
    }
--- user_files eval
main::files("keys.json=jwks.json", "index.html")
--- request eval
["GET /index.html", "GET /index.html", "GET /index.html", "GET /jwks_uri"]
--- more_headers eval
["Authorization: Bearer $::TOK{alice}", "Authorization: Bearer $::TOK{mallory_rsa1024}", "Authorization: Bearer $::TOK{carol_ec256}", ""]
--- error_code eval
[200, 401, 200, 404]



=== TEST 6: [ref] auth_jwt_key_request: several subrequests on the same level (/jwks_uri, /jwks2_uri)
--- config
    location / {
        auth_jwt             "closed site";
        auth_jwt_key_request /jwks_uri;
        auth_jwt_key_request /jwks2_uri;
    }

    location = /jwks_uri {                                # test
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/keys;
    }
    location = /jwks2_uri {                               # test
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/key2;
    }
    location = /idp/keys {                                # test: the identity providers
        alias $TEST_NGINX_HTML_DIR/keys.json;
    }
    location = /idp/key2 {
        alias $TEST_NGINX_HTML_DIR/key.jwk;
    }
--- user_files eval
main::files("keys.json=jwks.json", "key.jwk=rsa2.jwk", "index.html")
--- request eval
["GET /index.html", "GET /index.html", "GET /index.html"]
--- more_headers eval
["Authorization: Bearer $::TOK{alice}", "Authorization: Bearer $::TOK{bob_rsa2}", "Authorization: Bearer $::TOK{mallory_rsa1024}"]
--- error_code eval
[200, 200, 401]



=== TEST 7: [ref] auth_jwt_require: map $jwt_claim_iss $valid_jwt_iss { "good" 1; }
--- http_config
    map $jwt_claim_iss $valid_jwt_iss {
        "good" 1;
    }
--- config
    location / {
        auth_jwt          "closed site";                      # test
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys.json;     # test
        auth_jwt_require $valid_jwt_iss;
    }
--- user_files eval
main::files("keys.json=jwks.json", "index.html")
--- request eval
["GET /index.html", "GET /index.html"]
--- more_headers eval
["Authorization: Bearer $::TOK{iss_good}", "Authorization: Bearer $::TOK{iss_bad}"]
--- error_code eval
[200, 401]
--- response_headers eval
['!WWW-Authenticate', 'WWW-Authenticate: Bearer realm="closed site", error="invalid_token"']



=== TEST 8: [guide] step 2: auth_jwt "API" with no key source: nginx -t fails here (NGINX Plus would skip the signature check)
--- http_config
    upstream api_server {
        server 127.0.0.1:1;                               # test: 10.0.0.1, 10.0.0.2
    }
--- config
    location /products/ {
        proxy_pass http://api_server;
        auth_jwt   "API";
        #...
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"auth_jwt" is on but no .* is in scope/



=== TEST 9: [guide] step 2: the token from a query string parameter (token=$arg_apijwt)
--- http_config
    upstream api_server {                                 # test: the backend
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;
    }
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/api.sock;
        location / {
            return 200 "api_server: $request_method $uri sub=$http_x_jwt_sub\n";
        }
    }
--- config
    location /products/ {
        proxy_pass http://api_server;
        auth_jwt "API" token=$arg_apijwt;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys.json;     # test
        proxy_set_header X-JWT-Sub $jwt_claim_sub;            # test
    }
--- user_files eval
main::files("keys.json=jwks.json")
--- request eval
["GET /products/list?apijwt=$::TOK{alice}", "GET /products/list", "GET /products/list?apijwt=$::TOK{mallory_rsa1024}"]
--- error_code eval
[200, 401, 401]
--- response_body_like eval
[qr/^api_server: GET \/products\/list sub=alice$/, qr/401 Authorization Required/, qr/401 Authorization Required/]
--- no_error_log eval
[qr/apijwt=ey/]



=== TEST 10: [guide] step 4: auth_jwt_type encrypted, keys from conf/key.jwk and conf/keys.json
--- http_config
    upstream api_server {                                 # test: the backend
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;
    }
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/api.sock;
        location / {
            return 200 "api_server: $request_method $uri sub=$http_x_jwt_sub\n";
        }
    }
--- config
    location /products/ {
        proxy_pass        http://api_server;
        auth_jwt          "API";
        auth_jwt_type     encrypted;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/key.jwk;       # test: conf/key.jwk
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys.json;     # test: conf/keys.json
        proxy_set_header  X-JWT-Sub $jwt_claim_sub;           # test
    }
--- user_files eval
main::files("key.jwk=jwe-dir.jwk", "keys.json=jwks.json")
--- request eval
["GET /products/1", "GET /products/1", "GET /products/1"]
--- more_headers eval
["Authorization: Bearer $::TOK{jwe_dir}", "Authorization: Bearer $::TOK{alice}", ""]
--- error_code eval
[200, 401, 401]
--- response_body_like eval
[qr/^api_server: GET \/products\/1 sub=enc-user$/, qr/401 Authorization Required/, qr/401 Authorization Required/]



=== TEST 11: [guide] step 4: auth_jwt_type encrypted, private keys from a file, public keys from a subrequest
--- http_config
    upstream api_server {                                 # test: the backend
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;
    }
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/api.sock;
        location / {
            return 200 "api_server: $request_method $uri sub=$http_x_jwt_sub\n";
        }
        location = /keys {                                # test: stands in for idp.example.com
            alias $TEST_NGINX_HTML_DIR/keys.json;
        }
    }
--- config
    location /products/ {
        proxy_pass           http://api_server;
        auth_jwt             "API";
        auth_jwt_type        encrypted;
        auth_jwt_key_file    $TEST_NGINX_HTML_DIR/private_jwe_keys.jwk;   # test: private_jwe_keys.jwk
        auth_jwt_key_request /public_jws_keys;
        proxy_set_header     X-JWT-Sub $jwt_claim_sub;       # test
    }

    location /public_jws_keys {
        proxy_pass http://api_server/keys;                # test: "https_//idp.example.com/keys"
    }
--- user_files eval
main::files("private_jwe_keys.jwk", "keys.json=jwks.json")
--- request eval
["GET /products/1", "GET /products/1"]
--- more_headers eval
["Authorization: Bearer $::TOK{jwe_oaep}", "Authorization: Bearer $::TOK{jwe_dir}"]
--- error_code eval
[200, 401]
--- response_body_like eval
[qr/^api_server: GET \/products\/1 sub=oaep-user$/, qr/401 Authorization Required/]



=== TEST 12: [guide] step 4: the same with auth_jwt_key_cache 1h
--- http_config
    upstream api_server {                                 # test: the backend
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;
    }
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/api.sock;
        location / {
            return 200 "api_server: $request_method $uri sub=$http_x_jwt_sub\n";
        }
        location = /keys {                                # test: stands in for idp.example.com
            alias $TEST_NGINX_HTML_DIR/keys.json;
        }
    }
--- config
    location /products/ {
        proxy_pass           http://api_server;
        auth_jwt             "API";
        auth_jwt_type        encrypted;
        auth_jwt_key_file    $TEST_NGINX_HTML_DIR/private_jwe_keys.jwk;   # test: private_jwe_keys.jwk
        auth_jwt_key_request /public_jws_keys;
        auth_jwt_key_cache   1h;
        proxy_set_header     X-JWT-Sub $jwt_claim_sub;       # test
    }

    location /public_jws_keys {
        proxy_pass http://api_server/keys;                # test: "https_//idp.example.com/keys"
    }
--- user_files eval
main::files("private_jwe_keys.jwk", "keys.json=jwks.json")
--- request eval
["GET /products/1", "GET /products/2"]
--- more_headers eval
["Authorization: Bearer $::TOK{jwe_oaep}", "Authorization: Bearer $::TOK{jwe_oaep}"]
--- error_code eval
[200, 200]
--- response_body eval
["api_server: GET /products/1 sub=oaep-user\n", "api_server: GET /products/2 sub=oaep-user\n"]



=== TEST 13: [guide] Creating a JSON Web Key File: the "fantasticjwt" oct key (HS256), kid 0001, is refused: 12 bytes, RFC 7518 section 3.2 asks for 32 (NGINX Plus loads it)
--- http_config
    upstream api_server {                                 # test: the backend
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;
    }
--- config
    location /products/ {
        proxy_pass        http://api_server;
        auth_jwt          "API";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/key.jwk;       # test: conf/key.jwk
    }
--- user_files eval
main::files("key.jwk=fantastic.jwk")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: ".*key\.jwk": JWK #1: HMAC key of 12 bytes is refused: HS256 needs at least 32 bytes \(RFC 7518, section 3\.2\)/



=== TEST 14: [guide] Getting JWKs from Subrequest: the full example (auth_jwt_key_cache, proxy_cache)
--- http_config
    proxy_cache_path $TEST_NGINX_SERVER_ROOT/jwk_cache levels=1 keys_zone=jwk:1m max_size=10m;   # test: /var/cache/nginx/jwk

    upstream my_backend {                                 # test: the backend and the IdP
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;
    }
    server {
        listen unix:$TEST_NGINX_SERVER_ROOT/api.sock;
        location / {
            return 200 "my_backend: $request_method $uri sub=$http_x_jwt_sub\n";
        }
        location = /oauth2/keys {
            alias $TEST_NGINX_HTML_DIR/keys.json;
        }
    }
--- config
    location / {
        auth_jwt             "closed site";
        auth_jwt_key_cache   1h;
        auth_jwt_key_request /_jwks_uri;    # Keys will be fetched by subrequest

        proxy_pass http://my_backend;
        proxy_set_header X-JWT-Sub $jwt_claim_sub;            # test
    }

    location = /_jwks_uri {
        internal;
        proxy_method      GET;
        proxy_cache       jwk; # Cache responses
        proxy_cache_valid 200 12h;
        proxy_pass        http://my_backend/oauth2/keys;      # test: https://idp.example.com/oauth2/keys
    }
--- user_files eval
main::files("keys.json=jwks.json")
--- request eval
["POST /a\nhello", "GET /b", "GET /c", "GET /d"]
--- more_headers eval
["Authorization: Bearer $::TOK{alice}", "Authorization: Bearer $::TOK{carol_ec256}", "Authorization: Bearer $::TOK{mallory_rsa1024}", ""]
--- error_code eval
[200, 200, 401, 401]
--- response_body_like eval
[qr/^my_backend: POST \/a sub=alice$/, qr/^my_backend: GET \/b sub=carol$/, qr/401 Authorization Required/, qr/401 Authorization Required/]



=== TEST 15: [guide] Arbitrary JWT Claims Validation: aud, iss and scope through map + auth_jwt_require
--- http_config
    upstream api_server {
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;       # test: 10.0.0.1, 10.0.0.2
    }
    server {                                              # test: the backend
        listen unix:$TEST_NGINX_SERVER_ROOT/api.sock;
        location / {
            return 200 "api_server: $request_method $uri sub=$http_x_jwt_sub\n";
        }
    }

    map $jwt_claim_aud $valid_app_id {    #map rule 1:
        "~api\d.example.com" 1;           #token issued only for target apps
    }

    map $jwt_claim_iss $valid_issuer {    #map rule 2:
        "https://idp.example.com/sts" 1;  #token issued by trusted CA
    }

    map $jwt_claim_scope $valid_scope {   #map rule 3:
        "access_as_admin" 1;              #access as admin only
    }
--- config
    location /products/ {
        auth_jwt          "API";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/api_secret.jwk;   # test: conf/api_secret.jwk
        auth_jwt_require  $valid_app_id $valid_issuer $valid_scope;
        proxy_pass        http://api_server;
        proxy_set_header  X-JWT-Sub $jwt_claim_sub;           # test
    }
--- user_files eval
main::files("api_secret.jwk=hmac.jwk")
--- request eval
["GET /products/1", "GET /products/1", "GET /products/1", "GET /products/1"]
--- more_headers eval
["Authorization: Bearer $::TOK{api_ok}", "Authorization: Bearer $::TOK{api_bad_aud}", "Authorization: Bearer $::TOK{api_bad_iss}", "Authorization: Bearer $::TOK{api_user_scope}"]
--- error_code eval
[200, 401, 401, 401]
--- response_body_like eval
[qr/^api_server: GET \/products\/1 sub=admin$/, qr/401 Authorization Required/, qr/401 Authorization Required/, qr/401 Authorization Required/]



=== TEST 16: [guide] auth_jwt_require twice, the second with error=403 (as written: $valid_scope fails the first one, so 401)
--- http_config
    upstream api_server {
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;       # test: 10.0.0.1, 10.0.0.2
    }
    server {                                              # test: the backend
        listen unix:$TEST_NGINX_SERVER_ROOT/api.sock;
        location / {
            return 200 "api_server: $request_method $uri sub=$http_x_jwt_sub\n";
        }
    }
    map $jwt_claim_aud $valid_app_id {
        "~api\d.example.com" 1;
    }
    map $jwt_claim_iss $valid_issuer {
        "https://idp.example.com/sts" 1;
    }
    map $jwt_claim_scope $valid_scope {
        "access_as_admin" 1;
    }
--- config
    location /products/ {
        auth_jwt          "API";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/api_secret.jwk;   # test: conf/api_secret.jwk
        auth_jwt_require  $valid_app_id $valid_issuer $valid_scope;
        auth_jwt_require  $valid_scope error=403;
        proxy_pass        http://api_server;
    }

    # test: what the guide means (authentication, then authorization): scope only in the 403 check
    location /admin/ {
        auth_jwt          "API";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/api_secret.jwk;
        auth_jwt_require  $valid_app_id $valid_issuer;
        auth_jwt_require  $valid_scope error=403;
        proxy_pass        http://api_server;
    }
--- user_files eval
main::files("api_secret.jwk=hmac.jwk")
--- request eval
["GET /products/1", "GET /products/1", "GET /admin/1", "GET /admin/1", "GET /admin/1"]
--- more_headers eval
["Authorization: Bearer $::TOK{api_ok}", "Authorization: Bearer $::TOK{api_user_scope}", "Authorization: Bearer $::TOK{api_ok}", "Authorization: Bearer $::TOK{api_user_scope}", "Authorization: Bearer $::TOK{api_bad_iss}"]
--- error_code eval
[200, 401, 200, 403, 401]



=== TEST 17: [guide] Nested JWT Extraction: auth_jwt_type nested, the enclosed JWS passed on as the Bearer token
--- http_config
    upstream api_server {
        server unix:$TEST_NGINX_SERVER_ROOT/api.sock;       # test: 10.0.0.1, 10.0.0.2
    }
    server {                                              # test: the backend
        listen unix:$TEST_NGINX_SERVER_ROOT/api.sock;
        location / {
            return 200 "api_server: $request_method $uri auth=$http_authorization\n";
        }
    }
--- config
    # test: the guide's server{} is inside http{}, with upstream outside it and proxy_pass at
    # the server level, where nginx does not allow it; here proxy_pass is in "location /".
    auth_jwt          "API";
    auth_jwt_type     nested;
    auth_jwt_key_file $TEST_NGINX_HTML_DIR/api_secret.jwk;    # test: conf/api_secret.jwk

    location / {
        proxy_pass       http://api_server;
    }
    proxy_set_header Authorization "Bearer $jwt_payload";
--- user_files eval
main::files("api_secret.jwk=api_secret_nested.jwk")
--- request eval
["GET /products/1", "GET /products/1", "GET /products/1"]
--- more_headers eval
["Authorization: Bearer $::TOK{nested}", "Authorization: Bearer $::TOK{nested_inner}", "Authorization: Bearer $::TOK{jwe_dir}"]
--- error_code eval
[200, 401, 401]
--- response_body_like eval
[qr/^api_server: GET \/products\/1 auth=Bearer \Q$::TOK{nested_inner}\E$/, qr/401 Authorization Required/, qr/401 Authorization Required/]
