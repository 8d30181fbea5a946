# Attack catalogue (issue "Hardening"): every request below is an attack that
# must be REFUSED with 401 and a precise $auth_jwt_status word, and the worker
# must survive it (the harness checks for crashes, [alert]/[crit]/[emerg] and
# that nginx still answers afterwards).  A few blocks carry a positive control
# (a genuine token in the same location) so that a refusal cannot come from a
# broken fixture; they are marked "control".
#
#   alg none / None / NONE            malformed (empty signature segment),
#                                     unsupported_alg (any signature)
#   HS256 keyed with the RSA public   no_key (set holds only the RSA key),
#   key's bytes (PEM, DER, ...)       bad_signature (set also holds an oct key)
#   ES256 zero / short / long / DER   bad_signature; empty signature: malformed
#   RS256 <-> PS256 mix-ups, other    bad_signature
#   hash, PSS salt or MGF1 hash
#   kid traversal / SQL / NUL / 10 KB no_key (JWKS with kids), bad_signature
#                                     (kid-less PEM key); never echoed to logs
#   kid not a string                  malformed
#   crit (any, even [] or null)       bad_crit
#   jwk / jku / x5c / x5u headers     bad_signature or no_key: keys named or
#                                     embedded by a token are never fetched,
#                                     never trusted
#   2, 4, 5 segments, empty segments  malformed
#   non-canonical base64url           malformed (padding, + and /, blanks,
#                                     non-zero trailing bits, other bytes)
#   duplicate JSON members            malformed: always refused, never "last
#                                     wins" (nor "first wins")
#   exp / nbf forms                   see TEST 14 and TEST 15
#   5000-deep JSON                    malformed (depth limit 32)
#   60 KB token                       too_large (header, X-Token, ?token=)
#   token in Authorization and in     only the token= source is read
#   the token= variable
#   two Authorization headers         400 from nginx itself, before the module
#
# Not repeated here: a claim with CR/LF or NUL (t/060-variables.t TEST 14).
# Invalid keys (off-curve EC points, bad RSA numbers) stop nginx at startup:
# t/071-attacks-keys.t.
#
# Tokens are static where they need a private key: minted once with the
# test-only keys of t/keys (rsa.key, ec256.key) or the "attacker" keys (rsa2.key,
# a throwaway P-256 key whose public half travels in the token's own "jwk"
# header) by a throwaway python3 "cryptography" script over hand-written JSON.
# Tokens that need no valid signature, or only an HMAC with a secret chosen
# here (large, deep, jku/x5u pointing at this very server), are built at run
# time by the helpers below.  "exp" 4102444800 is 2100-01-01.  A refused
# request is sent to @denied (error_page 401 = @denied), which shows
# $auth_jwt_status.

use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key_files(), jwk(), jwks(): the keys of t/keys, read at run time
use MIME::Base64 qw(encode_base64url);
use Digest::SHA qw(hmac_sha256);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# base64url without padding
sub b64u { return encode_base64url($_[0]) }

# A compact JWS from header JSON, payload JSON and raw signature bytes.
sub jws { my ($h, $p, $sig) = @_; return join '.', b64u($h), b64u($p), b64u($sig) }

# An HS256 token over header and payload JSON with the given secret.
sub hs256 {
    my ($h, $p, $secret) = @_;
    my $input = b64u($h) . '.' . b64u($p);
    return "$input." . b64u(hmac_sha256($input, $secret));
}

sub port { return $ENV{TEST_NGINX_SERVER_PORT} }

# The secret of the attacker's own HMAC key (TEST 10), published in the
# attacker's JWKS that this server happens to serve at /attacker.jwks.
our $ATTACKER_SECRET = 'attacker-chosen-hmac-secret';

# Key files: those of t/keys (key_files() reads them at run time) and these sets.
add_files(
    # rsa.jwk (kid "rsa") and ec256.jwk (kid "ec256"); the locations that use it load
    # hmac.jwk (kid "hmac") next to it: a JWKS with public keys must not hold an oct key
    'kids.jwks'     => jwks(jwk('rsa'), jwk('ec256')),
    'attacker.jwks' => '{"keys": [{"kty": "oct", "kid": "attacker", "k": "'
        . b64u($ATTACKER_SECRET) . '"}]}' . "\n",
);

# A 60 KB token (TEST 17): the size is checked before anything else.
our $BIG = jws('{"alg":"ES256"}', '{"sub":"' . ('A' x 45000) . '","exp":4102444800}', "\0" x 64);

# "Authorization: Bearer <token>" for each token.
sub bearer { return [ map { "Authorization: Bearer $_" } @_ ] }

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: alg none, None and NONE: without a signature, with garbage, with a genuine RS256 signature
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub", "hmac.jwk")
--- request eval
[("GET /t") x 9]
--- more_headers eval
main::bearer(
# {"alg":"none","typ":"JWT"} . {"sub":"admin","exp":4102444800} . (empty)
"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.",
"eyJhbGciOiJOb25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.",
"eyJhbGciOiJOT05FIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.",
# ... . "signature"
"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl",
"eyJhbGciOiJOb25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl",
"eyJhbGciOiJOT05FIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl",
# ... . RS256 signature of the same input by the real key
"eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.Kyg5UOcTfdlS_Or3G6oYeeC9u0oBHXroh7cbnx-yhJ_Fi72IMlaE4QqMZxsvb1L_X5GPeij2froDirByGiSaCjlcZB8WXva53n3yoUGys_7eJaYTL1LoJDHgU-EMGBUEE2RtsNI7uGAlfuDtiAVc5s5YF_kAqBb74HQszvISbTZcOTA7QNvOfrxWK-KeQew81LzMcD-XFDa2jV_QZ_1il2nnWdOOk1PRkADTGHq7ODG0H3nsXWeWYebnTQTZ7EfYpgBkcxNLdyU9UU3JVQLpe6lKNC6R-YDqUrbKmf1VLSqeAHufMEzXePXeOsuFsIHlHgE1QennUvAMnX_sHZxPLA",
"eyJhbGciOiJOb25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.kXnAFmPM2v2scYgwymQ51CzbipuzGs3w6aIN9gtiytPlOTVx4Jev8Fu-u9SCPj_PvrsYKASKj_CAuCH3ku2dQqMt6oMFKZfUkaOOYxzUsJUAhmtdi3XEGOh3uJDso_5LPhMQQqjHYaSIDqQB-TTltboBqnFouR170G7NEmd_3a-BROudSs7jzmKxQp7XivvLDUr-NSLv3OUCN1GeQNMWp3A36R9HiA7owrDvqAl0CeIbM7b6NEsHWm8CtQzXGJdpByEj9yxj797vuqI-0yAGQPZuAbsqIvGd3k104WB0L4kiywiaLFovmOv7dhugHYTHESkSGHheSb6lA-w8dQnyWQ",
"eyJhbGciOiJOT05FIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.g7qaD6hClCNzTNW_eMz6O6X6i-Q1ls5YgKoeEwmBrkyEPvSs_x7_7ly8x-kM2IMyp-k05r-TYtYwQDJpr6jvPpW1SMgVD-NpC6vea4BjvLo7rDOghLztKEV4zOKSjxXizQxgMqAkeLgNcbX32tK9goxGC-uwMb89g_rm56ANbUf-qajwL_Nb0apVQUK_8IKwuk1tRh_f8FHNvUDn-XV2_g3zEZwwUMzN8UeNEE4mp1YfwnegIJ3cu1f4V5tm5_9XpQZGuyEd4M3AKmJ9xhLBN2AuYGxvo_tLMQt-IgztWaW1AP6gBhfmFqfa5InUQRlqZQA3IzQdNfnDjIfqqhlnjw",
)
--- error_code eval
[(401) x 9]
--- response_body eval
[("denied: malformed\n") x 3, ("denied: unsupported_alg\n") x 6]



=== TEST 2: HS256 keyed with the RSA public key's bytes, the set holding only that RSA key: no_key
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
[("GET /t") x 7]
--- more_headers eval
main::bearer(
# HMAC secret = rsa.pub exactly as in the file (PEM, final newline included)
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.hhzwY-f6IlUdfqW6SAFqu3ShNqR9SeIvi-28OZ-kxTg",
# = the PEM without its final newline
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.CPoF2uHRgUfoYWWvJ-olvspqhBXrd9EpSrlm2o6DVRQ",
# = the SubjectPublicKeyInfo DER
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.qtlOyG9b6ohvqiw3xkCKuN4jPm-TWLuZY-D2K4q2uyk",
# = the PKCS#1 RSAPublicKey DER
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.KnEudDfY9ZkMwV_YsTkXKF2uqF9yxFWnvHjXOfj1D1U",
# = the "RSA PUBLIC KEY" PEM (rsa.pkcs1.pub)
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.RrriJKEN6PU_lYWXmaeTAnr6yHSccK0lRfZSKBDwj0k",
# = the modulus bytes
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.ltm6zK8jO5mN6c0eb2AuFDD0-urLkfIEAKfuC5pgPpI",
# = the JWK text (rsa.jwk)
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.oUWQpQiTRugBX445iZNMdTGkw1wbDSljeee_Wmm6ygc",
)
--- error_code eval
[(401) x 7]
--- response_body eval
[("denied: no_key\n") x 7]
--- error_log
auth_jwt: no key usable with the token alg (no_key)



=== TEST 3: the same HS256 tokens when the set also holds an unrelated oct key: bad_signature, never the RSA key as secret
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    # PEM RSA key + oct JWK (kid "hmac") from two files
    location /two-files {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    # one JWKS: RSA kid "rsa", EC kid "ec256"; oct kid "hmac" from a file of its own
    location /jwks {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/kids.jwks;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub", "hmac.jwk", "kids.jwks")
--- request eval
[("GET /two-files") x 8, "GET /jwks", "GET /jwks", "GET /jwks"]
--- more_headers eval
main::bearer(
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.hhzwY-f6IlUdfqW6SAFqu3ShNqR9SeIvi-28OZ-kxTg",
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.CPoF2uHRgUfoYWWvJ-olvspqhBXrd9EpSrlm2o6DVRQ",
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.qtlOyG9b6ohvqiw3xkCKuN4jPm-TWLuZY-D2K4q2uyk",
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.KnEudDfY9ZkMwV_YsTkXKF2uqF9yxFWnvHjXOfj1D1U",
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.RrriJKEN6PU_lYWXmaeTAnr6yHSccK0lRfZSKBDwj0k",
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.ltm6zK8jO5mN6c0eb2AuFDD0-urLkfIEAKfuC5pgPpI",
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.oUWQpQiTRugBX445iZNMdTGkw1wbDSljeee_Wmm6ygc",
# control: HS256 with the real secret (hmac.secret)
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJobWFjLW9rIiwiZXhwIjo0MTAyNDQ0ODAwfQ.Yuj3ywPRGn_Z3BOChgFIEUC-k_0HgQDy0xeSoN1tnyE",
# PEM bytes as secret, no kid: only the oct key is tried
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.hhzwY-f6IlUdfqW6SAFqu3ShNqR9SeIvi-28OZ-kxTg",
# PEM bytes as secret, "kid":"rsa": the RSA key is the only candidate and cannot do HS256
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.zZjB8D8AHD9F04HUBhD_YDCIOAbO0qkUQIJqeExT2eM",
# control
"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJobWFjLW9rIiwiZXhwIjo0MTAyNDQ0ODAwfQ.Yuj3ywPRGn_Z3BOChgFIEUC-k_0HgQDy0xeSoN1tnyE",
)
--- error_code eval
[(401) x 7, 200, 401, 401, 200]
--- response_body eval
[("denied: bad_signature\n") x 7, "sub=hmac-ok\n",
 "denied: bad_signature\n", "denied: no_key\n", "sub=hmac-ok\n"]



=== TEST 4: ES256 signatures of zeros, of the wrong length, DER-encoded, out of range
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub")
--- request eval
[("GET /t") x 11]
--- more_headers eval
main::bearer(
# control: the genuine R||S signature
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.5TA5G8lTrDOO1AAz-eCTChGcde0wmteW2Y80bvACo4pxn00ALRko-tpY9CSRbGXSbOqdmQnNLTUSJIHtRyAQvg",
# 64 zero bytes (r = s = 0)
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
# the genuine signature cut to 63 bytes
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.5TA5G8lTrDOO1AAz-eCTChGcde0wmteW2Y80bvACo4pxn00ALRko-tpY9CSRbGXSbOqdmQnNLTUSJIHtRyAQ",
# 65 bytes: a zero byte appended / prepended
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.5TA5G8lTrDOO1AAz-eCTChGcde0wmteW2Y80bvACo4pxn00ALRko-tpY9CSRbGXSbOqdmQnNLTUSJIHtRyAQvgA",
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.AOUwORvJU6wzjtQAM_ngkwoRnHXtMJrXltmPNG7wAqOKcZ9NAC0ZKPraWPQkkWxl0mzqnZkJzS01EiSB7UcgEL4",
# 96 bytes (the ES384 size)
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.5TA5G8lTrDOO1AAz-eCTChGcde0wmteW2Y80bvACo4pxn00ALRko-tpY9CSRbGXSbOqdmQnNLTUSJIHtRyAQvgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
# the genuine (r, s) DER-encoded instead of R||S
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.MEUCIQDlMDkbyVOsM47UADP54JMKEZx17TCa15bZjzRu8AKjigIgcZ9NAC0ZKPraWPQkkWxl0mzqnZkJzS01EiSB7UcgEL4",
# r = 0, genuine s
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABxn00ALRko-tpY9CSRbGXSbOqdmQnNLTUSJIHtRyAQvg",
# r = s = n (the group order)
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0._____wAAAAD__________7zm-q2nF56E87nKwvxjJVH_____AAAAAP__________vOb6racXnoTzucrC_GMlUQ",
# r = s = 1
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAQ",
# 0 bytes: an empty signature segment
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.",
)
--- error_code eval
[200, (401) x 10]
--- response_body eval
["sub=es\n", ("denied: bad_signature\n") x 9, "denied: malformed\n"]



=== TEST 5: RSA-PSS and PKCS#1 v1.5 mix-ups, another hash, another PSS salt length or MGF1 hash
--- config
    location /echo {
        return 200 "sub=$http_x_sub alg=$http_x_alg\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Alg $jwt_header_alg;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
[("GET /t") x 9]
--- more_headers eval
main::bearer(
# controls: RS256 and PS256 by the real key
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtaXgiLCJleHAiOjQxMDI0NDQ4MDB9.m7CL1sSbqiIZVFdamMlqKqCfZY86pELEnkL10tgoKU94A51aECZ3sfgMrQeRGNyUm0mTaa2SSNHB-Hx6tnsIXi1u572qu24rfE9POA6wQ301-OIqQyyq7wa-5gAb5HEz6JFOZ8y28-u6-V3QBlUQ5xj7cazpr0wWqc4qGjgapyZ7wjeAMzdCWKAUy1aJ4ca4HQf0OfNvIA857BDqXssSFLK4brQ69XO5FWCZd4nlFXpf7G5AXT672AOKzrbLB6Ue9WinSUKCc-Prh3O6n30VlAUvasPhaeoQs0CK0dCMXpV7E-w_EzEpUr1WANMKLXjuW6Vxk3IO7gtmDzopnQMBqA",
"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtaXgiLCJleHAiOjQxMDI0NDQ4MDB9.XM4mS436Jhx7Z3lb7sKrAwDjbNOs3H9ax_TDtP0m3z7Gn09_mVY9-ZNR-kjmgeZCZNZFb4WWrvhbTYmmsJziT8OyftyokZfEWG9IJpdIpDILnk4rMLGRu7XjnKiJQrekoHvN0XzFcpADSw9eokiE4za6wjF13GStwygYeoDr45Qxmmrit7FohC4Q6FCfjfZCyB8VxvwAcnFe_N8b6KGutSDVeBjkgp6QV2WGbXpMFD2LKUbea2KzJHBxUOoVHuNyZqv0oeN8ARDqLxESoZYqLSBv5Q7xKSatI2obZgZMs9gvjkyFTuE1oIN3PSbXL-qVgSMd2Es10Zz-1sIEeXTvrQ",
# "alg":"RS256", signed PS256
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtaXgiLCJleHAiOjQxMDI0NDQ4MDB9.IuODWlKTrkxxQc4KW4DAlrXnh2YCuZ8hy0vMite6DX5Rcr5HNtSXbN5dFAyz_73TGhl9MT5_0WZKUHzMW_gNmslxPAi8Dhvx351mPD13wpKoebRyFeTcDVaVVvb36XsFZf7RWxcMxwDaCBvgzt68G_hnTjUNgYiH0VCBZ-swTNoCNvhnF6SnSybkbmSbvorqsqmKrYB1FW-oYrDgE0wSHNJYrRddJVuj8EaTm-_7ufMiiPGmS_1XbhsiuIBP-8STrqLfe4lApEkmFT-CqOBtnBs_ULcOdU6Zo1YTLSg4qugwkezC3KQfpQtI2lXVZSbKWIezdNBh7w9gDOQDvnOQEA",
# "alg":"PS256", signed RS256
"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtaXgiLCJleHAiOjQxMDI0NDQ4MDB9.ThKLgQzH4iOcz_fAzN_6n0M56Aq_il316RaJeEAZLZIWzfU_l9OtgcDLIPW1XJgTx2qq6A4BsdUZWrrrvr-_TlXdBuB9Q8vSt2RiF9Z405eUhrISalAFaPF8CgfO33qqLJcAeai1juyNUn8rTZeSku19xsXas8NbSFWYiLG_R5FkegXVbkjI1kWzUhWNBxOMeqIGDfVfqFQJV5Mdd7H5DKRCKnXZOOX6bFzNAIQg3B7OO-ZdKBDxuqcmROWlDLrOy4UOIxS-AqFJBC-9IXHgrDgS8hAAfm8bpOb4ALwzjWBTUKeJSf0I2_wgeNeaBVOmLBwFdhRFSKPgpoEyo2URjg",
# "alg":"RS256", signed RS384
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtaXgiLCJleHAiOjQxMDI0NDQ4MDB9.JBLK3fi-xd1mucfVUDknmWzWtsPcBOatqlg0EItJ1FPf0PkVZxSEvAEG5RWEBzzWmlsYCTb_Y-Fq36Zf6QSRzqVhzDIzw2TaFLkQrclVfsBQga_GuegvK0eGx5NYOcFXRwKRZgBHsQFQMVLwygqB1VIIxgxykTKwaDrDFWHGnq5RQzR4NMR40RKQ3euQSDm7idSns1ZrFVapM_UK3buW6fLtDo6kMo5MCbZ99ClQM2PY65YIqcwgbsTPKwAXyEj-wAsdz82FtYSJTnjZ5MnuFg8RuYB0_y5XFQCz4xFpbQEFLAt3jZ0NcZ9dHhYZGQFh-2ztavMUjAJ3z156CzkfcA",
# "alg":"PS256", signed PS384
"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtaXgiLCJleHAiOjQxMDI0NDQ4MDB9.Ik6BCm-ZAF_ErvvaLxo2yo1g8MWfKe04Zvg0t9slK8UgrSGMma0hE4br0DanUuGo1183ZHbWJBbhQsHPkQIlGH808laoho3UDUj6cLumSWU3KYBJ3LkIW4yp0QDxZQwOqHMkS3ax7qM7IVytD4eVJQq4cZNxP2PPgDeZcg-oaxZ-r3L8vZuS7eC9-1ayteEcU_wmTpZ6mjY6RKqiisy1kOosRFdyCq2XZ4TZt4Rqp5mUqUpbrUTBLZodBEvVyZw4s1tkUBdaGGKMQpmgR1BFKd_ZUjwWpsBjYzVFU22mggxVd15NzPj-Ei8bjYh5EIOlrgIgRTG2_5HP5PwQkgPgvw",
# "alg":"PS256", PSS salt length 0 / maximal instead of 32
"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtaXgiLCJleHAiOjQxMDI0NDQ4MDB9.Of0ttUUftu0RN4i3nrmBNW1BugpRXbTMBf4ZRqVNxlgdQSFAaAxV-QZXntgNLGfFznZPc4xrkbTORUpCFrsASvYTutaDqqn01RD9mztI6UJkr1fTTA3iQXxJyvOhU3IrHh3IEZUDxEOFI3NtapCBn6H5y7B8Hi800TAsXwc9lfnkVevur4HrmGLRfeyU8E4ZGCImhg1xp1YfCRPgxFlVFQPofrNijMDlzvex60elqGm09IR1y91fTZacujOXbEUGlTZ3JxeySbAXsh2H4Ll2TDbv4cWAl_7taoTKfDTGqDskReaHfkOnsZfJLKR_a65olXZapC0cABFTkqoHd_Jljg",
"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtaXgiLCJleHAiOjQxMDI0NDQ4MDB9.C8t6y_VM5wMoRGzl-9KhauLPiIefOcBttHzqMGTvMLz4umF8Qvsw0QHhYXhUxoJEn-a3ZpifMVHVoTw8RpuIhFsWLuUmBZb3_OsF2dZ-745a1gnsrDaE68EmJj_1Be-yR2Ai6zY9TyzuXueGYZvAbWLzq1Iua1yORDZJs37guPZlsz2DpF5VyZWNhip91vInpYdl3PGwcxtq6MuGPMGVN4DVH_LYjp5B1aJFUmG5iFoY3LRaMm72E7laOB86yLZ2Rfm4r3GIKlA_U5O3TUkZ-eFNFNY9JyT1HhiQCm4DipVNXaCs6CkFiH4gS2L6glq04dM-kR2BU8lvtz_e6C_gcA",
# "alg":"PS256", MGF1 with SHA-1
"eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJtaXgiLCJleHAiOjQxMDI0NDQ4MDB9.mZyV_FkCY76N6bf2YWIK6XwjhPp-uwdRtRbexIEMuGEuauWlprs5UwsKDnowR9x8CWJ0Dlc341lF5olI--pqrxypDzya8WPm0Yb1fs-RlFDh6pS0NsU6jMU-8jAiH-5OBBkjxw73EtD0XxyE_xbOauXRbvUzx5p2kPLr7S_kdbgvoKW4IMdAfsiWwExd4vu54lof5jWyEvYFehztqobgCtwwryXWJdFYIXcKzED936s2byNa2dvvYUynfj_LVCRTYUET0Vuez1I6W-l9LmRb-GCkBWDKtHAubkGXE_zZ8ZkaAiFBZWKnPtT8Y9AsdDBJxJ6NUJEMxtgWD264aR234w",
)
--- error_code eval
[200, 200, (401) x 7]
--- response_body eval
["sub=mix alg=RS256\n", "sub=mix alg=PS256\n", ("denied: bad_signature\n") x 7]



=== TEST 6: kid with path traversal, SQL, NUL, a device path and 10 KB, signed by an attacker's key: no_key with kids, bad_signature with a kid-less key, never logged
--- config
    large_client_header_buffers 4 32k;

    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /jwks {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/kids.jwks;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /pem {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("kids.jwks", "hmac.jwk", "rsa.pub")
--- request eval
[("GET /jwks") x 6, ("GET /pem") x 7]
--- more_headers eval
my @attacks = (
# RS256 by rsa2.key (the attacker's), "kid": "../../etc/passwd"
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLy4uL2V0Yy9wYXNzd2QifQ.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.ud_3ftWnS8KC8E8y0ZkaDW5ul1aOLu099_e80zKCSrfls6_4Vq_l_SYsikxxmKjdJ1oBeQ34ndI8Bf1dT9LSgd_5IoGGDRCf7P0HUZ6_xMVPTzOaOauaXTMF4r_y5XRAC95hF97UXKIb4IW2B-89x63y1nybpz7Mz3d_1NobNRUegQCDx_4GkmyN18_Gc5YRAqTHLRk2RGvB2A7vmsO8NavilqoOmlMtHKc81U1vanExfoOGgrYlMFt_ZSjvpeplKCaU3yhIfgNixh6apPFmSn9uiibexojjd37mRY9SRLpoRaA6clv50aYbK-Dsi-gVtJbTgUl4RvlKJY4WvSv6eA",
# "kid": "' OR 1=1 --"
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6IicgT1IgMT0xIC0tIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.snftk3Xe8Uaz-oGDa75hRxQSLuksxSQaJpkijywcXkvY4QeBRFnYMI-pGkpFi--XyW56LYzKkn7HRh1EYmWqUouNZ8GGog89Y2-ZNVRX2dwjt_K1INJTf_xSKQP_HEvyQwOt2nsR49e_dQdLJKKiph4zPqNsi6GYj3SmT6yaPBmNj5ZGb5iuVEQhXLuImHDSgYkUN8RCUcDBXJbB22cMRbRLAfL-iEMensb5j8OKuatJileMXE0eh8sW6PVjghLR8hvsdiH0tn1ppEwhSvldoMAv4zugTFwwG9ozNPzibYkYOGtA7bVYliHlSj8XVaBLXHvg_7FE13JkMdh-l25Jmg",
# "kid": "\u0000"
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ilx1MDAwMCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.evrcmgLwys3D6P0ASAXX9CW_o45g41Xg2JcmYqE1SetnhUrkh2Lcsh-pGIzYCFMOAZupGch1id_dhsvignEZzrpXiPj150AVNttJtFLYIN2ETaW6QC2yan48wFWp1QLQa_h0mZNZXtmgPOdEG7TuhlIEXyNsKp5ffUwbe46Oq3ltPc1JSPNXl3b4iiu5D-G39yXenYz6kfc_90qz5faE2q2kni0ehXeQaMnBQoHo4V1pffcDcC4zRopYoyzH3E-xAwAEQHJCyRjna8mxQL8VJft_piyZRos1Nbc_JGNZirAqUxnJ-JxJCSW7f5CPmjQhhf4SPkNTVwJCzJYnVgOwzg",
# "kid": "rsa\u0000" (a C string would read "rsa")
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYVx1MDAwMCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.Fjq-__XnFp_zW6zw8V61vQVQ_jU23AuAaRmOy-38G8dM6_49gb91hD0iFZ7FtDe7J5EPP1CR5VXj81s9nuwcCBtFfFaSg9bcu6P5C9qNrhuO3iowu8LRj_OnaMmWdkD5drOzn0XYEL-bHWpN9P_Zs3Yu8-5tEd6ylAquwEABi3IPidCdaEtoMGd9xARC_CinGAcuQtDnikxvkgdGI8QjcQO9tZQYXKvr8i1JLjImsstmHhKR9GbfD9BmewQJBbCIKxYe7xw6l1Q423faNTBi6MInuRugOT5QRtVJBPSgh_3v-QcNACcA9jhPIUeu3AnzZFT1dNUmTo081nC9c3Czsg",
# "kid": "/dev/null"
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ii9kZXYvbnVsbCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.oBlVBa3LBHhtbtq8lrNIV2tvfiBukHCiDzJZlmD7ioLGTDSEGG2IMWloXfuEM5NQbahDotvaMo7ixOyHKjENImT9nxTwSu3-FK2M3_D_lJ4lsxl3tmlKdWfyHGZVWaGXiz6LjTjETeLycjDjdt6Cp29fS1tzTsl4Z_-J-X97lmf6i9vM0RIR9ys5C9YlDfojORIEFD0qe2QEwdS9PDxCoyCl-lzfZC1XG-bpTc1Lbrttxh4muyZn95BnuA-l3YsgGkPj7hh9qlOA0F6ArX-J1_t5DRmBXV6wP8MQ2TPoGSM-q4YbKfAeiDSSN22nGFRLiP6k8VHvDNbceshGhHCSkg",
# "kid": 10240 x "A", unverifiable signature bytes
main::jws('{"alg":"RS256","typ":"JWT","kid":"' . ('A' x 10240) . '"}',
          '{"sub":"admin","exp":4102444800}', "\x5a" x 256),
);
main::bearer(@attacks, @attacks,
# control: the real key signed "kid": "../../etc/passwd"; a PEM key has no kid,
# so it is a candidate for any kid (the kid only selects, it never opens anything)
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6Ii4uLy4uL2V0Yy9wYXNzd2QifQ.eyJzdWIiOiJraWQtaWdub3JlZCIsImV4cCI6NDEwMjQ0NDgwMH0.E74P_n0rJKkeqikBgdoXHaWMnsWC15xn1yjbr87RzDr2G0YebUkkuZ81212hWMPuR_R-Dk8F5iV-uOUqE-P86-9pnFcVxnGTM-Rq9TzYDD8jcgLjkbTaidsKcfdWU0R1Q7bziQM_Ggdlsm2KUNsOajaXWm0GILvcvVJvrMxJmN4s814-cBKgKYuqKA21GtxJMpps-4blSzeGITHWp1mMO13tPwu4lnoulomMJ9nOvy92hkzVjx13qGuQQZNDK8fz88oK2uUSv9gCNht-8kEHwYxldthfIptVUygOFnU4Rh7W3LHKe_65ysSahajt0v7HtEtedUHr70skCcgM8lBhcg",
)
--- error_code eval
[(401) x 12, 200]
--- response_body eval
[("denied: no_key\n") x 6, ("denied: bad_signature\n") x 6, "sub=kid-ignored\n"]
--- no_error_log
passwd
OR 1=1
dev/null
AAAAAAAAAA



=== TEST 7: a kid that is not a string is malformed
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/kids.jwks;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("kids.jwks", "hmac.jwk")
--- request eval
[("GET /t") x 4]
--- more_headers eval
main::bearer(
# RS256 by the real key, "kid": 1 / null / ["rsa"] / {"kid":"rsa"}
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6MX0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.WxUXgWgOc5heehOl6kGQ9LCcDIlYspvvtX_Yj658TAoNH9iI3VlLMRvKD7J5Rx_RcZUv-Ncu9i_pYduP_YwEUIaPE4YYPG5IrJAI5yE22OnXVx9mimH05K6fblTpvrnSAmDHsH6mjeZ56wkp_2OcEptJb9QAq7Ed7m1V427Hv1H2mKgImlBLtfHi2BOeJ5S8sHj7CdeBnGbaDXBkgOlTtV5cljqZgzUQ48aXglRUdrHwAeVZYR6wYig3schtMgB_Ebitxrcnqk8auXWhOhBOZjvC3ZJxp_EKL9hK67RA6SvZtShwwiK_ynW3b2GxgJpwlbG5n6dLGzeZ-BYHva6c2w",
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6bnVsbH0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.kYUBl3D6zrvuhyn0zYLxX-RS6aS-DCnoexMVooy8B-tRHmzGM6CnRWmrLoUBzYZERpFiwXVLlFmG38QQAuMnlMqRFt890znIrdZyafM2Qh-ik_Gc-oMZFCNG_hs4tpnFkRp80smhC4jEAT5852XdUzz7XPU1yve7L1j9bMDd4wdisgk5XHOXpLiHwlosTeot1lX99-sQRUxhzTeNF-VND4HcgtMMe6cS4kad6HYxTtzwoHh0t9Cw6H2Vo8V9-7RcNh9WWwOKe7Cs4VYdnEurv-EgKg8nxO7Oi4ihTrSDSG02ChXzWl_OVbfUvKzbqiyMlqia9aOEtoOMV5500HtCMg",
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6WyJyc2EiXX0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.Zr_Hvw-cAK3DN5oIu5TwI17qXOwBBl7a9ExClg_0_rDBXY_E-sTbDpocVShA4RKLXgDcejVRYDiwlcbi4Ywnv9pEQeQollLBxB1Lq9zmCtqJypiTz4k9ZwOYKKOTxfTUrCfCfMg6gpDJC_iKT3lJIkT3G_UTiQfQVqYW4ZWTIZNzXf0HVvtnxiG1U04FIE_YX_ncPN1h4t3mDXyRXwCD9RhUn6_c1GaKsimcr5hvdHVyLINDyOUhS7j0jKFvMyOg-qpeI_sY-oKaUe3IHKwmTTSazRd-J1dTDFbt2VEKMhwbocOUHBnl52Yfw9DhuP-hdOr_dLKQmgybdMkaWXXBpA",
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6eyJraWQiOiJyc2EifX0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.Z2XB6Xu3AESLatxXeuruXZB6FH_lEve0Fbs6GJIGETFGqRjiMXzMGHATUEPlOKM6iCEdInd7AcoWyjRcLgXNYSBdnsM3c1PVFEPJoz8Vmu0YN5jTUzlwsESYxS1igSnoR5E9MgRdt2bn-dkAFEGvokaGeZ_Xg1-qocNR35fh4fmZCljZAh9Fb0PUUv3rggOxkh2cqji53ThQ0ABqAwgOeT9YLrG13iHLaYrr1r_C9kGIyHfCImN5_zPOAkFI5vpcIgY5vzoWvQG8E1QljUaHDiwJi3lvwa85sRK4_5Y4y06UwWMierJjGJcuaY98EaExCVdJzHTjqszxYkxfmoDrNw",
)
--- error_code eval
[(401) x 4]
--- response_body eval
[("denied: malformed\n") x 4]
--- error_log
auth_jwt: kid is not a string (malformed)



=== TEST 8: crit with unknown, empty, "b64", registered, non-array and null values: bad_crit even with a genuine signature
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
[("GET /t") x 6]
--- more_headers eval
main::bearer(
# RS256 by the real key; "crit":["x-unknown"],"x-unknown":1
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImNyaXQiOlsieC11bmtub3duIl0sIngtdW5rbm93biI6MX0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.ZHFW2GvjUkC27KaYlbnoT8kUPo6aRJQKnwSqt4izfh_7-DFEIq5UH9rkPWnT-3yTrGbaTvaWUPcv2Rm6ZA-gbJUiOC6mS_s_zv33pKI7SSHM9qTpYZilxVsfnOm-W0Q_3gjGJuB5lgD-q-7WdU0Nslj9CohVQ2L7OHLTe4XP06AYB8aCUBKl35J-iDLkQgXH6Fkr6QpVheZqX2CVIv0UnAMXIDalPCpCcETIliQT0fC83SxVT-hp3rmD95NanDoIjorCLc4XJUHLQNc_jlhJvJZxgYg_w_hAgIIx7Wd13chzreB_fTse5-0c6P2kzdpd_EyRAsgLXlohsLhu7QJj_A",
# "crit":[]
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImNyaXQiOltdfQ.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.U22ky8gVeXGVeo9Qi_N8Ox_3_MlwwOjUkxagsMANp5gKHMgqnLZpkebNZJgIT4no4cUqn09U2Me2cjZkiCQ8al3nHOMnU0ZajHVscGrOllRMH6TiTxyBkkOopngNryQrGzkHlosYXm3kJh1wH7Q4rMmSgbUsoi_UNcUnODhrKDAVqilSu12oBs8C2YJXAqWoNToEtQ0GnbPUkfkfJ9JKwMZwd97HDsWi_eKZOeUdfNo7ohWQZOodSKUriWgJYutsAEGNjzgFwW4_fU_HsJ5k3rG0hmUTHhjrdNXOxvbUxqHJeO0Axc0ZZffHxRoa0VtQqSJCbfd_-gCU2zTLSUqKXg",
# "crit":["b64"],"b64":false (RFC 7797 unencoded payload)
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImNyaXQiOlsiYjY0Il0sImI2NCI6ZmFsc2V9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.ECaynYHIXqxsBELwA4OmvNZPmUuUOPRjjjjgZahii0q1bm50DEasjMdZDzhDySiP3Q8s7R1Rtk0VW55YQTFJxFOHShwPXJQyZ_j4acShbQNDtEhL2rnh5SSHylzgodA6htESwf9aOWCtQFXhrH0lxWpDkt3v9nnZ5ggu7lHwM7ATJNOIB_QGtnfeXupI4CLosFmJM5kNbw45Df5x-Ed-CTZ6wXsLw2a63788pIh7hq4hLUlCfgqeXfuEXfXmXn71COoLsWxWPC9VDVBALdpeBLnREAw_Sf4QMAeAmW8hshsvtIV70Y8f0r1nRt0p7JUenMJNQptXY3STmlO6PSSlYg",
# "crit":["exp"],"exp":4102444800
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImNyaXQiOlsiZXhwIl0sImV4cCI6NDEwMjQ0NDgwMH0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.I8GB6f1piJXl86gZHSyP-_zzdnPjnnA9vUYE0QOGhahj0z88GLl_jRo6WOPPSEi0iY7OkdUxUej7lb8KbBGxyjMv4FV3a06n1TKdJIooHzQp4iAbqSHbjPD_E4TMQY3cE1jI3Se58KHUypk0V1PsU13tMm7lr_Fn47tc3mzrk6eqGQ_PNNuN3Q1w1SV6zfrpAvgwCUNNY_sHBIsVGmRcGpJbWRqlOXrmCIL1BPXkega6kzpYvNmz8ax5IPSvyVqtKNnzXtq94G3ojAOJuekAavrspdih0Pu-pvDCGBbFAFR_EiokZ9k_NxaIjvPb5-C32x6LGtWTBtHFw5TdctQxRA",
# "crit":"x-unknown"
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImNyaXQiOiJ4LXVua25vd24ifQ.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.hI4JEW7rAsthMvM0WFnM-eA-tHIIrnnszsuQliClK5h3Lfwslts_PoCQ4sWchpPx6RwPlPJ5zvjXVx4QomHSnerC3k_5i18VLeBj-sFgCJvoaZSDG-xjitaTvkU5Q_EnoOdnXKaLf_nT5Oayg77AwmNITWdd4mx7UTp-G_-kaWBvoqKPOqX6I1R4_bo64Dmzw97AeEbMNNh6LMTCLOPFt10c1-BId3XBu8pohH4ji9NeOFgAHluvxqR-kXTB2F7fsgPgZUwioc-kU9cJQcIeL-EE_FWCWqeZdz6VyCWLuvYcvLPmJrHaJWVQ8kiDojziDMXmLIxUru6hSFW8hum-JA",
# "crit":null
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImNyaXQiOm51bGx9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.mgYyCOETzsytVv_vr3CyMrUoaBR70obal-8QBF18ZLtLTYn7w1jabsH_5KYTjzqnmLGeoeyw9F4Z7cs-dAW6ZWOXLKOfEN-QoC7qwjqEght4HFi_nZ00JrlpYg1nYKFMylNQt1fqOfeI50n9bhZ5ilpWQvrJy8QQuUl0wBfZUOeup0exs_yV9pj3tvicVeQfET9x7tWAM1_Zpz3ry4yl_hMySFUqqMm3gC1ML1F16U_uhSWqRqDtqB244OPejC1uWy2fnbh4mqVMbLZuaSi49xaFqYYj5LetHTbU6IqyArl_cRw0g4hymZEw7YGBc4Zn_RLW9OCkDMJg3jlH-zQYvQ",
)
--- error_code eval
[(401) x 6]
--- response_body eval
[("denied: bad_crit\n") x 6]



=== TEST 9: keys carried or named by the token (jwk, x5c, jku, x5u) are never trusted
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /pem {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /ec {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /jwks {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/kids.jwks;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub", "ec256.pub", "kids.jwks", "hmac.jwk")
--- request eval
["GET /pem", "GET /jwks", "GET /ec", "GET /jwks", "GET /pem", "GET /jwks", "GET /pem", "GET /pem"]
--- more_headers eval
main::bearer(
# RS256 by rsa2.key with rsa2's public JWK in the "jwk" header
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImp3ayI6eyJrdHkiOiJSU0EiLCJuIjoiMVprOUJYamh6ejkwVnRVdUEtNl91d2FwcjNleWNqeXpxMG51UUVhWThqSGg4cThkZmFSZzNmay1qeG4xOHhXN3pncktrR3J1R3RBa09BeUo4WV9qdEpER2gyZW9rTTZNRVNfYWFISzMwSXd5ajV1TVRfN2RHQzlhY1lKc1J3X1A2RHJwS2p0VjdHeEtkcHVTWVd5czFaUmh6YWdSUkFLaDRjVV9TNENhOG1aWk1JYlhoWC1rV21lTEpnWlJVdm5yWDNMUmk0b18zUFluTHcxY1VSUzVrbF9hS0lfTUdYMktqLXhLd3BUa1AxcWdoR0huMnd6VDZ2ZkFkR0NJb3NqaWNLSncwd0dMbmdrQ2pfcThhbm9JNE93SGZvbXJKUlpYWDFWZ3lFcjRHUHEzb05qMThhVklkN2VIVVB5d0x5RzJwWjJnaENoWE9VLWNpcG5HU0hUam5RIiwiZSI6IkFRQUIifX0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.Jq-AamgA5U0k-KseFmIuLkCxc2jEbCdhx5FAhoKJEtEM-zEKnqxsMcGiqZYUFhJcu1jmRRsxbPLQoMuqhzCZqjD-yv2E3os_gkOyAMScsOJjZEmgbI5du4J43mtlVOvVNGBvXgTGKX02IS1VTI0hKcXP8e1eoOfiicfDCS3pTcddJ8ZoUtfwUJ3Yas0ey9NvOpgHshKugVASKyqnd-F0s0lMZ8CzT7mZqe86lr86g2rr9EEoxQxsXK0KD__4CUj-VDP0p62hyUyLH-tKEImjy40HcNaS8PEBaTiadbNSj8He9rNfjYVoMrdqH6BG8nxNeGQNXkyywpfI7HwRmXco8g",
# the same with "kid":"rsa" in the header and in the embedded JWK
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSIsImp3ayI6eyJrdHkiOiJSU0EiLCJuIjoiMVprOUJYamh6ejkwVnRVdUEtNl91d2FwcjNleWNqeXpxMG51UUVhWThqSGg4cThkZmFSZzNmay1qeG4xOHhXN3pncktrR3J1R3RBa09BeUo4WV9qdEpER2gyZW9rTTZNRVNfYWFISzMwSXd5ajV1TVRfN2RHQzlhY1lKc1J3X1A2RHJwS2p0VjdHeEtkcHVTWVd5czFaUmh6YWdSUkFLaDRjVV9TNENhOG1aWk1JYlhoWC1rV21lTEpnWlJVdm5yWDNMUmk0b18zUFluTHcxY1VSUzVrbF9hS0lfTUdYMktqLXhLd3BUa1AxcWdoR0huMnd6VDZ2ZkFkR0NJb3NqaWNLSncwd0dMbmdrQ2pfcThhbm9JNE93SGZvbXJKUlpYWDFWZ3lFcjRHUHEzb05qMThhVklkN2VIVVB5d0x5RzJwWjJnaENoWE9VLWNpcG5HU0hUam5RIiwiZSI6IkFRQUIiLCJraWQiOiJyc2EifX0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.AJ8EbNkzCcJojsM_SJP_f1dExrhLFICrZ-8EyRcThWkfRU8UOMhjEIqJpdQPU0KfuXbaa8MgJnbdzozt14EoO_tHQn0HWulFqT_RzVZgAilf1OGSawoCfAr3iMGclpD6IpL85h5XGnr4ZLOI27H6vdHdMjg4qeCgZZbrjjcVgT5twK-I5yKQ_-uKg-LyYeZjfneKIq8zQY9by6aItZB5xssxikmrIr-KX5bLOr91h8z0KnCkKRkt2-5t1pm1Hu6nBuuNDQwk-GAAYgAgXqib_0CkZzFVtMAyIvX_KjEVLgmijOe6eflGDZWzDtetQwXBq3I-qEs-Oi8R_h0uBEgJiQ",
# ES256 by a throwaway P-256 key whose public JWK is in the "jwk" header
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImp3ayI6eyJrdHkiOiJFQyIsImNydiI6IlAtMjU2IiwieCI6Im4yd0dLZGY5WkdQSkkxLXFTM1k4UlVGVWtTV21KQ1NsZDJDcmNlbVhacWMiLCJ5IjoibzhzTVY5dmtPLXg5SENlNDhsdDVoTU5wSGhRLW9DRlE3TS0yZ0VKR0dFZyJ9fQ.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.IMmd2i8rcmS6mQ09uSx1A7Ps2gOTIhgc1Avttl-wWTqRUvtO-O34ymk__QGIEveLosdaDTsrEoFDCtEYqXN8pw",
# ... and with "kid":"ec256" (the real key's kid) in the header and the JWK
"eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImVjMjU2IiwiandrIjp7Imt0eSI6IkVDIiwiY3J2IjoiUC0yNTYiLCJ4IjoibjJ3R0tkZjlaR1BKSTEtcVMzWThSVUZVa1NXbUpDU2xkMkNyY2VtWFpxYyIsInkiOiJvOHNNVjl2a08teDlIQ2U0OGx0NWhNTnBIaFEtb0NGUTdNLTJnRUpHR0VnIiwia2lkIjoiZWMyNTYifX0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.fBGJXPWJl1DAbBfZcBvgUh_CcP0JhMcxeqFQ_MDkyXlvaqtkKIpeYQfQVRUBd1zHHvY_l5x4PY3SmG11FizZmA",
# RS256 by rsa2.key with a self-signed certificate of rsa2 in "x5c"
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsIng1YyI6WyJNSUlDcXpDQ0FaT2dBd0lCQWdJQkFUQU5CZ2txaGtpRzl3MEJBUXNGQURBWU1SWXdGQVlEVlFRRERBMWhkWFJvTFdwM2RDMTBaWE4wTUNBWERUSTBNREV3TVRBd01EQXdNRm9ZRHpJd09Ua3dNVEF4TURBd01EQXdXakFZTVJZd0ZBWURWUVFEREExaGRYUm9MV3AzZEMxMFpYTjBNSUlCSWpBTkJna3Foa2lHOXcwQkFRRUZBQU9DQVE4QU1JSUJDZ0tDQVFFQTFaazlCWGpoeno5MFZ0VXVBKzYvdXdhcHIzZXljanl6cTBudVFFYVk4akhoOHE4ZGZhUmczZmsranhuMTh4Vzd6Z3JLa0dydUd0QWtPQXlKOFkvanRKREdoMmVva002TUVTL2FhSEszMEl3eWo1dU1ULzdkR0M5YWNZSnNSdy9QNkRycEtqdFY3R3hLZHB1U1lXeXMxWlJoemFnUlJBS2g0Y1UvUzRDYThtWlpNSWJYaFgra1dtZUxKZ1pSVXZuclgzTFJpNG8vM1BZbkx3MWNVUlM1a2wvYUtJL01HWDJLait4S3dwVGtQMXFnaEdIbjJ3elQ2dmZBZEdDSW9zamljS0p3MHdHTG5na0NqL3E4YW5vSTRPd0hmb21ySlJaWFgxVmd5RXI0R1BxM29OajE4YVZJZDdlSFVQeXdMeUcycFoyZ2hDaFhPVStjaXBuR1NIVGpuUUlEQVFBQk1BMEdDU3FHU0liM0RRRUJDd1VBQTRJQkFRQ2tDWC9SWEFDOHJUakJvZ3RUemhkL0tITENWWWMzVzk4R3d5NXRHOHZEOStJMjRqeUFsLytTTmppRlQrTksvRkM3YlJXRFRFWHB3WkRGa3EwSE1NNGF1UTYrTWc0dkFsRmRzM3o3OTBxOHNZblgvalV6MkhscS9HSGh3VS94YVRYNWxkV29ySFZVaVNpVk9KTEIrVmZUQm02VE9pdythUTJ6RWdHb09kN0J2RlJKblU3dGtodG5oN3pqRzdPTTRtUER4Z0hRYVZTT3JZREZqVC9rbFFHeFhSc3FkUFlUM2ZIdnorV1NOUm9NUlN2YmFmWVIwZU5NcnMyWm0yRVU4M3RaTlN1bFBBcldVd0g2b3ZnOS9nbVFNbDFGVlVhR1g5YXE0WlhyQjhNdWthLzNaSEI5OHJwdzBxUWcyUm5MK0lubENjeVNORjV5ZURjNDRYb3Fya1hXIl19.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.m8Dw8RhUNLd8trUaKI6f130GusgEfJ6aCVfVbRO-DoriHok_hTl6qmw5t-HL-jlYrWmeaYrbCiYb4hPQllym3-hSmKceL7JZOm3VKp8PdAQM3Zq2H3nHolHISFaIRHkcpoPzYVHb8dx1NsYul_yA4DBiJtABd9Wm6x38gw2C12KQMKTUhV5OeDDLYl1S_OZJHTxCX5QnziSEsLGBjmYDy--9-tO3Ir6Che_za5TNbbIeLcUUZrAHDUGZh9pFn4rTMOg-1ezwli2q1zjQJimxlYuzG423LBlDst0tu6wsuthTEJMsanaAW-XT72yqTi5Dypr1bf8a9RvoeWCzK4588w",
# RS256 by rsa2.key, "kid":"attacker", "jku":"https://attacker.example/jwks.json"
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImF0dGFja2VyIiwiamt1IjoiaHR0cHM6Ly9hdHRhY2tlci5leGFtcGxlL2p3a3MuanNvbiJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.ysVfD0Ey9YFQprgl3lywZ0g5ZHdCWVvBuaIqTk5uVbgg8p7iqYhk4eNN5ZVbP7Nr0bBKyrk29z8VpzFqpqKGosmowqmGqH1jwFBtSdEFROk2IANo7pHcHamZrJNTPzhLmK_X34WQWGNUk0YfcSh4UrFvVhnUZAvVsizGBo7v5k0ll05wEsOLrENAvkE_2VgyIac7CcszcaKEDDgVLPZBVgkG1XCul17ejai-9IT5J7ibz4hP-cvBuz5Oz64AQ3JXnWfHqTv80DcvUkUt1w2A6dQTARiHa8JsQJhwM12GEuGZ4lKvIQlcdY2Pad1Z8mY_2AO4hAeWnuZzoKe0lFcDVg",
# ... the same at the PEM location (no kid on PEM keys: the real key is tried)
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImF0dGFja2VyIiwiamt1IjoiaHR0cHM6Ly9hdHRhY2tlci5leGFtcGxlL2p3a3MuanNvbiJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.ysVfD0Ey9YFQprgl3lywZ0g5ZHdCWVvBuaIqTk5uVbgg8p7iqYhk4eNN5ZVbP7Nr0bBKyrk29z8VpzFqpqKGosmowqmGqH1jwFBtSdEFROk2IANo7pHcHamZrJNTPzhLmK_X34WQWGNUk0YfcSh4UrFvVhnUZAvVsizGBo7v5k0ll05wEsOLrENAvkE_2VgyIac7CcszcaKEDDgVLPZBVgkG1XCul17ejai-9IT5J7ibz4hP-cvBuz5Oz64AQ3JXnWfHqTv80DcvUkUt1w2A6dQTARiHa8JsQJhwM12GEuGZ4lKvIQlcdY2Pad1Z8mY_2AO4hAeWnuZzoKe0lFcDVg",
# RS256 by rsa2.key, "x5u":"https://attacker.example/cert.pem"
"eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsIng1dSI6Imh0dHBzOi8vYXR0YWNrZXIuZXhhbXBsZS9jZXJ0LnBlbSJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.Ov2R8Kah6lzQy6JsckZ1mGFKiku5ZPyAErBOUqEa9MNx3TSyagSp-y11E5HyiXcNig4ypBMcRPPz5vrjXGF-kCH0VSRComDl1nlnXKHwIBmkj6uo032t2h2syyWBcn3TZkz0ckdqDDU_1pd-Zi-sbrmpTErb9s_NcU3Q4PFOAlNMUZFpNlSBEnQXxqLF86pgaT649DNdLseMUvRNorSdi9pfMZ7oRjDMKHu_m41cb-I2obI4teCjdVbfhu-6VL1qcqCEmjMPuBensRMTXrvCgd6SpqvHbXU6ltWVeVux83MKfdKkq6zozu_uX2ylnVogeLBCSIGX6Z7V-vZYKKHysg",
)
--- error_code eval
[(401) x 8]
--- response_body eval
["denied: bad_signature\n", "denied: bad_signature\n", "denied: bad_signature\n",
 "denied: bad_signature\n", "denied: bad_signature\n", "denied: no_key\n",
 "denied: bad_signature\n", "denied: bad_signature\n"]



=== TEST 10: jku and x5u pointing at this very server are never fetched (the attacker's JWKS is one request away)
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("hmac.jwk", "rsa.pub", "attacker.jwks")
--- request eval
[("GET /t") x 5]
--- more_headers eval
my $jku = "http://127.0.0.1:" . main::port() . "/attacker.jwks";
my $x5u = "http://127.0.0.1:" . main::port() . "/attacker.pem";
my $k = main::b64u($::ATTACKER_SECRET);
my $p = '{"sub":"admin","exp":4102444800}';
main::bearer(
# HS256 with the attacker's secret, whose JWKS is at "jku"
main::hs256(qq({"alg":"HS256","jku":"$jku"}), $p, $::ATTACKER_SECRET),
# ... with "kid":"attacker" as in that JWKS: no key of ours has that kid
# (the kid-less PEM RSA key is the only candidate and cannot do HS256)
main::hs256(qq({"alg":"HS256","kid":"attacker","jku":"$jku"}), $p, $::ATTACKER_SECRET),
# ... with "kid":"hmac", the kid of our own oct key
main::hs256(qq({"alg":"HS256","kid":"hmac","jku":"$jku"}), $p, $::ATTACKER_SECRET),
# "x5u" at this server
main::hs256(qq({"alg":"HS256","x5u":"$x5u"}), $p, $::ATTACKER_SECRET),
# the attacker's oct key embedded as "jwk"
main::hs256(qq({"alg":"HS256","jwk":{"kty":"oct","k":"$k"}}), $p, $::ATTACKER_SECRET),
)
--- error_code eval
[(401) x 5]
--- response_body eval
["denied: bad_signature\n", "denied: no_key\n", "denied: bad_signature\n",
 "denied: bad_signature\n", "denied: bad_signature\n"]
--- no_access_log
attacker



=== TEST 11: 1, 2, 4 and 5 segments and empty segments are malformed
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub")
--- request eval
[("GET /t") x 11]
--- more_headers eval
main::bearer(
# control: H.P.S, a genuine ES256 token
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
# H
"eyJhbGciOiJFUzI1NiJ9",
# H.P
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ",
# H.P.S.S
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
# H.P.S.
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA.",
# H.P.S.P.S (the shape of a JWE)
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
# .P.S
".eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
# H..S
"eyJhbGciOiJFUzI1NiJ9..Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
# H.P.
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.",
"..",
"...",
)
--- error_code eval
[200, (401) x 10]
--- response_body eval
["sub=b64x\n", ("denied: malformed\n") x 10]



=== TEST 12: non-canonical base64url of a genuine token is malformed (a lenient decoder would get the very same bytes and accept it)
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test" token=$http_x_token;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub")
--- request eval
[("GET /t") x 9]
--- more_headers eval
[ map { "X-Token: $_" }
# control: the genuine token (31-byte payload, 64-byte signature: both need padding)
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
# "==" padding on the signature / on the payload
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA==",
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ==.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
# the signature in the standard alphabet ("-" -> "+", "_" -> "/")
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm/KWk6LPUIErKwCRyTvr+Qmk+CrFiwMXDD3qH5jLqutS+Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
# a space inside the signature, a tab inside the payload
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrF iwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4Iiwi	ZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
# non-zero unused trailing bits in the last character of the signature / payload
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycB",
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfR.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrFiwMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
# "*" inside the signature
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJiNjR4IiwiZXhwIjo0MTAyNDQ0ODAwfQ.Ukp4s36mIhKUm_KWk6LPUIErKwCRyTvr-Qmk-CrF*wMXDD3qH5jLqutS-Nr9HBgQ7mUbsu98M4qFswhTeS1ycA",
]
--- error_code eval
[200, (401) x 8]
--- response_body eval
["sub=b64x\n", ("denied: malformed\n") x 8]



=== TEST 13: duplicate JSON members in header or payload are malformed, always refused, never "last wins"
# Duplicates are refused anywhere in the header or the payload, whatever the
# values, nested or spelled with escapes: a token whose members can be read two
# ways is never resolved, neither "last wins" nor "first wins" (core/src/json.rs).
# Every token here is signed by the real key.
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub")
--- request eval
[("GET /t") x 8]
--- more_headers eval
main::bearer(
# {"alg":"none","alg":"ES256"}: "last wins" would verify it
"eyJhbGciOiJub25lIiwiYWxnIjoiRVMyNTYifQ.eyJzdWIiOiJ1c2VyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.t6IfgZX2g9VlaHgYDoyoYRQ-uN8D0etcf2H5QFcmOQNetJ3C9WgW7MDfHQFpMkWyT2x0AbFiHYxVszkl1utItw",
# {"alg":"ES256","alg":"ES256"}: even equal values
"eyJhbGciOiJFUzI1NiIsImFsZyI6IkVTMjU2In0.eyJzdWIiOiJ1c2VyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.RH53PSi5ZNKP9QgX-htkczRX3FjEDARMsCBZbuof_NOZWNANN2EGwbhbZrcCCQIexBQBYm6Ebu5yv6C7-DUObg",
# {"alg":"ES256","kid":"a","kid":"b"}
"eyJhbGciOiJFUzI1NiIsImtpZCI6ImEiLCJraWQiOiJiIn0.eyJzdWIiOiJ1c2VyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.F0FtgYH3sDcrtGQm3oP_QNo8Yjf2eUQljVrjzVnyvR6_SEypq56S0_7MhgeBs5rVxo5_Q5yT0M3N0EjUd6v7tQ",
# {"alg":"ES256","\u0061lg":"HS256"}
"eyJhbGciOiJFUzI1NiIsIlx1MDA2MWxnIjoiSFMyNTYifQ.eyJzdWIiOiJ1c2VyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.Q9u3ZY1doVO5SlkD-0mNsXP4MmpQ1pKGXphJppSY04DOB_Miq2ifTjTTzlNmwYCEJ8v8e5Pvk1yY3UbSYildMw",
# {"sub":"user","sub":"admin","exp":4102444800}
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyIiwic3ViIjoiYWRtaW4iLCJleHAiOjQxMDI0NDQ4MDB9.7yDaDKeKjVrqixndbFCCL4U5aM6S-OPhhJZG5fjHU2PDj1Zwpraqe2FOcnMBIerNu8YZH_xhqYgDEtn-ve1Bxg",
# {"sub":"user","\u0073ub":"admin","exp":4102444800}
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyIiwiXHUwMDczdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.gfDv6FoMlNkLmSmV_CpiOK-jCdq9xfbdc88Mw0enWvvjl5xyp-FRCpKQwUD4jtbfXc4TbLxoGdn2z1xXimflQg",
# {"sub":"user","exp":1,"exp":4102444800}
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyIiwiZXhwIjoxLCJleHAiOjQxMDI0NDQ4MDB9.5Bc4SAUGxzkvdWnl_nSNXZMacvAaSxP9qldrhAfTah8JzxYHXsZcGaycwIgaTS7su7JN2ODt6oC29eum3qFqvQ",
# {"sub":"user","exp":4102444800,"a":{"b":1,"b":2}}
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ1c2VyIiwiZXhwIjo0MTAyNDQ0ODAwLCJhIjp7ImIiOjEsImIiOjJ9fQ.3nmS76K3FJY3QPgiDEtmbbGsSvBCQ7froIueZA3DXnVmAvHKUAWYcyAyh-BFdZXn6b4IUJ3fJrZ8rtFwRt8RlQ",
)
--- error_code eval
[(401) x 8]
--- response_body eval
[("denied: malformed\n") x 8]
--- error_log eval
qr/auth_jwt: duplicate member in (header|payload) JSON \(malformed\)/



=== TEST 14: exp and nbf forms that are refused: strings and other non-numbers (bad_claim), past or negative (expired), future (not_yet_valid), out of range (malformed)
# All signed by the real key; the payload text is as shown.
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub")
--- request eval
[("GET /t") x 19]
--- more_headers eval
main::bearer(
# "exp":"4102444800"
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfc3RyX2Z1dHVyZSIsImV4cCI6IjQxMDI0NDQ4MDAifQ.R4mFVUaPaeFNKC4LS20oM8S8eTRPrFmPVa-Qq_SYzwCUTK6awff7jfqtHCk9lhO9j43FgWOei9iju08WEPlQuQ",
# "exp":"123"
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfc3RyXzEyMyIsImV4cCI6IjEyMyJ9.LMooz-iS8eoIMt_iE19TZfVHXM-LnNyjHACdB-j3CTbASPh4ulxkN5o1eCub595jOjezcq108tIWhDq_ekVHHQ",
# "exp":true / null / [4102444800] / {}
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfdHJ1ZSIsImV4cCI6dHJ1ZX0.S8mYYhsRxTCGUQSOn0yTCVm6fy-PUGcXnxGAXsDfCRWpj0wm7PAwn1TxXYNlnRhjb91b4887o0AZkyJGPrjbOg",
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfbnVsbCIsImV4cCI6bnVsbH0.CE2eswdYk4epCluJDiA2pIPI1UKzSEb7HUL_aHKEuOi-8lkY-w2HavVf0rp8YAo9J72HbPK3BOuZQ92nzpGzlQ",
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfYXJyIiwiZXhwIjpbNDEwMjQ0NDgwMF19.aHloKy2hwbSaYM-544rvQFR-cBUUV6T51GjpP7zsLVgtc0qg8O_ZVhAfe5ADE83RMJOpBKIlxr7HJv0B4TIxsA",
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfb2JqIiwiZXhwIjp7fX0.KRsiV_RbiA2HCsV2XY1FST95OEs6_p-OHji3Xb-Gfz4ZrrZbpZq-eOvYD_VW58DrrLh8YdL9J-NX1a8aSovyNw",
# "nbf":"0"
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJuYmZfc3RyIiwibmJmIjoiMCJ9.SjJm5nEAKX02rCTTxHx355lZ1mCJr9Cfn2miKAAN-kF8WUCLhfAFo6HKahQi4r2z42J7epxL8lJUVK7R1Zlxeg",
# "exp":1.5
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfZmxvYXRfcGFzdCIsImV4cCI6MS41fQ.n17S1yUgOCROCy3ZzicBVspZ7RXfy3ePkKdeKuurIf6SMb8wmf525kgEPbhW_ig0z9QhiUN9ty1duqN8UXvTfg",
# "exp":-1
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfbmVnIiwiZXhwIjotMX0.npPQZ9SOTzepwn_HUXZf-KvS3NS7dhVmp-59FNYKrahX5vbghLx-cJA7hgSoHqtN5Bnm6Y818UlU0OQ4nRkaYw",
# "exp":0 / -0
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfemVybyIsImV4cCI6MH0.UR4rGl_Vbegpk3iaTRQz-hcQOCJQQqwEDogzAel8yq4MT2gIQiNNiase6TjPXIUNP06IIbf6CYCAdlDlWVGbGw",
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfbmVnemVybyIsImV4cCI6LTB9.DiJX-JTeyrgPx1Z-38-r_6FmLQCdnZ3hRW4UrmNEZvx6Qtdeo-KdTUHeQ1O-N-q4B1GbNEKCXy5sbkklXDjl_g",
# "exp":-1e308
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfbmVnMWUzMDgiLCJleHAiOi0xZTMwOH0.EQnqK6JaFpU3nlht_A6B5_qaFlzbH-gCCmbaKlFi5NXPOPHUrU8eSGK6hKl5ON0RYpWhueGWMrKPt6_HGbg9ww",
# "exp":1e-400 (reads as 0)
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfdGlueSIsImV4cCI6MWUtNDAwfQ.nlpA3z7QX2GV0KeGk9NzY2xR9TJAhCdSTdXb6J53UBDa3wSh-dBUKWM3uMBqj5A8iDmAqw9rQ-YIW7AgxA7ubg",
# "exp":-123456789012345678901234567890
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfbmVnaHVnZWludCIsImV4cCI6LTEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MH0.qJ1PC1cOd8l7MIFWQU6QygWoCvCIF_GyKs7bsx_SR2p--9lh9UOY7zq4MegodcV81TLqvKbBHofZsGCq8YnwIw",
# "nbf":1e308
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJuYmZfMWUzMDgiLCJuYmYiOjFlMzA4fQ.opgbsWoOo_NCEVO-23dGFZBw9e5SKl8xg5T9ifyfLeivZRD2ZpqeSm_87gmOBwLWJkqc3tMLZLUmLptFOMXr6A",
# "nbf":123456789012345678901234567890
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJuYmZfaHVnZWludCIsIm5iZiI6MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwfQ.p1NT3wGsQuwJz1BOJi1ZrmCSemFvOxQF9q9d5S8lca1GYTDB2TEWcttqMDW4z1qp5uKaV1tVQLb43o8ZJJTM8A",
# "nbf":4102444800.5
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJuYmZfZmxvYXRfZnV0dXJlIiwibmJmIjo0MTAyNDQ0ODAwLjV9.9T5mqyVqw4X-wJyc1kqo7BK7ziPk77MlX-FA_W5S_5PKrE4Z7hFP1G1UamrzKaGPaVCoeGol5cgeQe9Z5x318Q",
# "exp":1e400 (not a finite double: the JSON is refused)
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfMWU0MDAiLCJleHAiOjFlNDAwfQ.W1_v0Z7C7hG8U5ql-22XYIIh5ml3isO-EB37h3GWrXMN2sYUqvPkqwate-KME8XTGHxD1VBov4F3dnRH1RKh4w",
# control for the fixture: a valid "exp"
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfZmxvYXRfZnV0dXJlIiwiZXhwIjo0MTAyNDQ0ODAwLjV9.FTMfrnwD666UGpPFbtAhgr9TdUpnGU9eFox6b8GTRevQkuJuLjdB-_KjcfXLXLKvqC3YRyu-IVzkn-qF8DSo7g",
)
--- error_code eval
[(401) x 18, 200]
--- response_body eval
[("denied: bad_claim\n") x 7, ("denied: expired\n") x 7, ("denied: not_yet_valid\n") x 3,
 "denied: malformed\n", "sub=exp_float_future\n"]



=== TEST 15: exp and nbf forms that pass: fractions, 1e308 (far future), integers beyond 64 bits, negative nbf
# A NumericDate may be any JSON number (RFC 7519 §2); integers beyond i64/u64
# are compared as doubles, so they can only mean "far future" or "far past".
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub")
--- request eval
[("GET /t") x 7]
--- more_headers eval
main::bearer(
# "exp":4102444800.5
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfZmxvYXRfZnV0dXJlIiwiZXhwIjo0MTAyNDQ0ODAwLjV9.FTMfrnwD666UGpPFbtAhgr9TdUpnGU9eFox6b8GTRevQkuJuLjdB-_KjcfXLXLKvqC3YRyu-IVzkn-qF8DSo7g",
# "exp":1e308
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfMWUzMDgiLCJleHAiOjFlMzA4fQ.SpX94B4hbb3Bx4fOB36aZUnD_SLJBqGtZkxqbrw12Y6C6dW3BM1r4_69XLlR9FEFwlGXm2IM-_L-gfRuePe54A",
# "exp":123456789012345678901234567890
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfaHVnZWludCIsImV4cCI6MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkwfQ.Iu18wwB1fuIFu8A-hvv9xozF3nDhLNmGVE5PRqxcnAQE-GmLn0jipyuj8-HrClAvowGLEUM19ZRipXAD5QWbSA",
# "exp":18446744073709551615 (u64::MAX)
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfdTY0bWF4IiwiZXhwIjoxODQ0Njc0NDA3MzcwOTU1MTYxNX0.EvzFPYkjcJ5y-3SQnL_lPjCWmvushQ5k_yXHxUe8PUSBqXTvXbC2z0bCxqvNrXrV3xfcZks-GFce8UAxptl9Vg",
# "exp":9223372036854775808 (i64::MAX + 1)
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJleHBfaTY0bWF4MSIsImV4cCI6OTIyMzM3MjAzNjg1NDc3NTgwOH0.P2mU4F5XJrVHjAH7agZaWgIY3bk9nunL6523AJaNFdeqDaSvzNiU5nFZHat_xoNzdV0KK71Hze1kx6Ucgqv3ZQ",
# "nbf":-1
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJuYmZfbmVnIiwibmJmIjotMX0.6vGjoeTaBoaATPohLKL8VStw2ieqOCZQOYbOY1CGUWPE7IwC6dSIFCnYP8XhCDOheuS281s80HkFuvAUnXbjcw",
# "nbf":-1e308
"eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJuYmZfbmVnMWUzMDgiLCJuYmYiOi0xZTMwOH0.VIxSrc0fL0zYWhtzPbhvOGP2J01A_cpNG34O9Kk5tOw41_TnEFDSmsbE7uXRGg_dvbsik765mc0IraKua-CNyA",
)
--- error_code eval
[(200) x 7]
--- response_body eval
["sub=exp_float_future\n", "sub=exp_1e308\n", "sub=exp_hugeint\n", "sub=exp_u64max\n",
 "sub=exp_i64max1\n", "sub=nbf_neg\n", "sub=nbf_neg1e308\n"]



=== TEST 16: 5000-deep JSON in the header or the payload is malformed (the parser stops at depth 33)
--- config
    large_client_header_buffers 4 32k;

    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub")
--- request eval
[("GET /t") x 5]
--- more_headers eval
my $sig = "\0" x 64;
my $p = '{"sub":"admin","exp":4102444800}';
main::bearer(
# header {"alg":"ES256","x":[[[...5000...]]]}
main::jws('{"alg":"ES256","x":' . ('[' x 5000) . (']' x 5000) . '}', $p, $sig),
# payload {"sub":"admin","x":[[[...5000...]]]}
main::jws('{"alg":"ES256"}', '{"sub":"admin","x":' . ('[' x 5000) . (']' x 5000) . '}', $sig),
# payload: 5000 unclosed "["
main::jws('{"alg":"ES256"}', '{"x":' . ('[' x 5000), $sig),
# payload: 1500 nested objects {"a":{"a":...1...}}
main::jws('{"alg":"ES256"}', ('{"a":' x 1500) . '1' . ('}' x 1500), $sig),
# header: 2000 unclosed objects after "alg"
main::jws('{"alg":"ES256","x":' . ('{"a":' x 2000), $p, $sig),
)
--- error_code eval
[(401) x 5]
--- response_body eval
[("denied: malformed\n") x 5]
--- error_log eval
qr/auth_jwt: (header|payload) JSON is nested too deeply \(malformed\)/



=== TEST 17: a 60 KB token is too_large in Authorization, in a header read by token= and in ?token= (buffers large enough for nginx to pass it on)
--- config
    large_client_header_buffers 4 128k;

    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /authz {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /header {
        auth_jwt "test" token=$http_x_token;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /arg {
        auth_jwt "test" token=$arg_token;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub")
--- request eval
["GET /authz", "GET /header", "GET /arg?token=$::BIG"]
--- more_headers eval
["Authorization: Bearer $::BIG", "X-Token: $::BIG", ""]
--- error_code eval
[(401) x 3]
--- response_body eval
[("denied: too_large\n") x 3]
--- error_log
auth_jwt: token is longer than 16384 bytes (too_large)
--- no_error_log
AAAAAAAAAA



=== TEST 18: a token both in Authorization and in the token= variable: only the token= source is read
# With token=, the Authorization header is never looked at: not as a fallback
# when the variable is empty, not to override it.  Without token=, other
# headers are never looked at.
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /var {
        auth_jwt "test" token=$http_x_token;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /authz {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub")
--- request eval
["GET /var", "GET /var", "GET /var", "GET /authz", "GET /authz"]
--- more_headers eval
my $var = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmcm9tLXRva2VuLXZhciIsImV4cCI6NDEwMjQ0NDgwMH0.lRj73StnNDr35gIX0zzNGwU4FHaMBMWVbdqjJL2UKeZpRpIq2wkasczZESehwaDG6od4XTU5SjleqHd3IA8AWQ";
my $authz = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmcm9tLWF1dGhvcml6YXRpb24iLCJleHAiOjQxMDI0NDQ4MDB9.mlY5OiTN-GF3ZOkONk_JUJ8x-I8DCosyqVhDdWzXFdjuZp2g8tUcSot3c3pQLoo_4CSE5rykx9S2EzOr-Gt32Q";
my $bad = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
[
# both valid: the variable's token decides
"X-Token: $var\nAuthorization: Bearer $authz",
# a refused token in the variable, a valid one in Authorization: refused
"X-Token: $bad\nAuthorization: Bearer $authz",
# no variable, a valid token in Authorization: missing
"Authorization: Bearer $authz",
# default source: a refused token in Authorization, a valid one in X-Token: refused
"X-Token: $var\nAuthorization: Bearer $bad",
# default source: only X-Token: missing
"X-Token: $var",
]
--- error_code eval
[200, 401, 401, 401, 401]
--- response_body eval
["sub=from-token-var\n", "denied: bad_signature\n", "denied: missing\n",
 "denied: bad_signature\n", "denied: missing\n"]



=== TEST 19: two Authorization headers are refused by nginx itself before the access phase (400)
# So there is no "which of the two" question for the module.  Note that nginx
# (not the module) logs the whole header line at info level here, token
# included, as it logs the start of a header line that is too long.
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
my $good = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJmcm9tLWF1dGhvcml6YXRpb24iLCJleHAiOjQxMDI0NDQ4MDB9.mlY5OiTN-GF3ZOkONk_JUJ8x-I8DCosyqVhDdWzXFdjuZp2g8tUcSot3c3pQLoo_4CSE5rykx9S2EzOr-Gt32Q";
my $bad = "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcyIsImV4cCI6NDEwMjQ0NDgwMH0.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
["Authorization: Bearer $bad\nAuthorization: Bearer $good",
 "Authorization: Bearer $good\nAuthorization: Bearer $bad"]
--- error_code eval
[400, 400]
--- error_log
client sent duplicate header line
--- no_error_log
auth_jwt:
