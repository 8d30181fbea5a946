# auth_jwt_key_file: key formats (JWKS, JWK, PEM SPKI, RSA PUBLIC KEY,
# CERTIFICATE), several files, kid selection, inheritance, relative paths,
# warnings and configuration errors.
#
# Tokens are static, minted once with the test-only keys of t/keys (make.sh)
# and core's jwt-mint; "exp" 4102444800 is 2100-01-01.  A refused request is
# sent to @denied (error_page 401 = @denied), which shows $auth_jwt_status.

use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), key_files(), jwk(), jwks(): the keys of t/keys, read at run time

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# Key files: those of t/keys (key_files() reads them at run time) and these, assembled
# from them.
add_files(
    'rsa_ec256.pem'   => key('rsa.pub') . key('ec256.pub'),
    'two_rsa.jwks'    => jwks(jwk('rsa'), jwk('rsa2')),
    # rsa2 as an encryption key (kid "enc"), and ec256
    'enc_and_ec.jwks' => jwks(jwk('rsa2', kid => 'enc', use => 'enc'), jwk('ec256')),
    # rsa.jwk with a private member (not a real "d")
    'rsa_private.jwk' => jwk('rsa', d => 'AQAB') . "\n",
    'rsa_enc.jwk'     => jwk('rsa', use => 'enc') . "\n",
);

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: JWKS: every key type is found by its kid, and a token without kid is accepted too
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/jwks.json;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("jwks.json")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1yc2EifQ.lR1xT9Glz6wU2ciZ3XLj6Rfz2JJZUnFWROKvCnrpJFBO3CoFEDeWee53AT-_tOSHXNxDxDDL39vMnTr_pI0zKQt4AJ-RKd4Lm3nWRZnWGGl4px5W5nSQKiSEqHZ8Mqrl_xJSHzGDqX4lfP7brsBQvVEhj2MXKAQ5YIT_WMt3iZl0nQwv_PJbIPGfqZVbgiSeSE-RpNoFR_VNYwrpdc7OqCmrG4xe26aBRwblw-TbIOzE_oePL205R8jAkClXAd3gSPjJqGkuB6RC1k7m7rqRaD8Sk25fTFFAH4TlL0V0UuVKKiqFYGj8-sn7pvZGPrxN-37-AoPgc-MjZbdN6Q11yg",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjMjU2IiwidHlwIjoiSldUIn0.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1lYzI1NiJ9.mXuj3csgxaUHr9XZsqb7Y8YvWSLDF27hcadM85-nloORoatng6Xvu9yFHg40jTkyfUMZl_Ge9csx7Pwm8otVUA",
"Authorization: Bearer eyJhbGciOiJFUzM4NCIsImtpZCI6ImVjMzg0IiwidHlwIjoiSldUIn0.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1lYzM4NCJ9.3ZVpMbLos_rlS_KnTjw1_n5x1wwoDGJIf1ND8ttCMHF0wTWyHU_Jfe39WIjP484yhR9RGa6DMctuYFcb18ZFwc35Er8s3zIB98Q2v2BRoXeObDBskjGmgKaJ0Frx5WuJ",
"Authorization: Bearer eyJhbGciOiJFUzUxMiIsImtpZCI6ImVjNTIxIiwidHlwIjoiSldUIn0.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1lYzUyMSJ9.AZmWe3cJL-my9Xr7UVtODDu5I4JwZO6rv2tpXPPKs_fmagViDH03tXnbFWr-bbPiv_ivlsT8e4u78h3nizwef4KrAK0VCFFq6finF479A6x991KRBxfJT2xJftNhrEWZGr9LtdIzhzZssKyUSVBRnR3LnpGjOLIwUFKRDWaRUkBj9Ze1",
"Authorization: Bearer eyJhbGciOiJFZERTQSIsImtpZCI6ImVkMjU1MTkiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1lZDI1NTE5In0.uea3wl7P08UVaCFVvg44hkR-SbXAVDtgSKtVA1PhOYehLNK9VRA5CNOEz2hoKKMsntVJvcu1H4vuddAAbVyFCQ",
"Authorization: Bearer eyJhbGciOiJFZERTQSIsImtpZCI6ImVkNDQ4IiwidHlwIjoiSldUIn0.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1lZDQ0OCJ9.1ibyf2jl0RD5Q44NL_CY9uWrGL96KJawIF9esUkjkQeMobW9C5c_ldEv9YmjuqQSkakCHrcV8xYAnuxCDECW6eM_9aUfV8PysmUn3lwmFKxHroye499H_VjBvlxKB3ESl5qheDDdz6F8hWTywD9ucSIA",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A",
]
--- error_code eval
[200, 200, 200, 200, 200, 200, 200, 401]
--- response_body eval
["sub=kid-rsa\n", "sub=kid-ec256\n", "sub=kid-ec384\n", "sub=kid-ec521\n", "sub=kid-ed25519\n",
 "sub=kid-ed448\n", "sub=alice\n", "denied: bad_signature\n"]
--- no_error_log
[warn]
[error]



=== TEST 2: a single JWK: its kid must match the token kid when the token has one
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1yc2EifQ.lR1xT9Glz6wU2ciZ3XLj6Rfz2JJZUnFWROKvCnrpJFBO3CoFEDeWee53AT-_tOSHXNxDxDDL39vMnTr_pI0zKQt4AJ-RKd4Lm3nWRZnWGGl4px5W5nSQKiSEqHZ8Mqrl_xJSHzGDqX4lfP7brsBQvVEhj2MXKAQ5YIT_WMt3iZl0nQwv_PJbIPGfqZVbgiSeSE-RpNoFR_VNYwrpdc7OqCmrG4xe26aBRwblw-TbIOzE_oePL205R8jAkClXAd3gSPjJqGkuB6RC1k7m7rqRaD8Sk25fTFFAH4TlL0V0UuVKKiqFYGj8-sn7pvZGPrxN-37-AoPgc-MjZbdN6Q11yg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsaWNlIn0.mak6SjbLxqClCjp6_9ntdku2QJF1A1PC2soqxM9rlxJJT_GnGP6e_IsltV9cEGFRL4TFh0cVT8ID3FenKzwtUskqZup-ddttTkZ_V0kFJQ_wz4Kr5byLQ3Gu3pqNEXZr3OJbV4VMZYLkXh7SKSvV4ZrlivUahJJjRexxiCrkSKpHgXa5cI_yAZD51qRCOtejfTY-Xy34CGMjmnOjPIOG_0TS8khh5JKTsvPAmBBCVDCmYYRHxfveI-phnyR4Y09RX-lb1gud1fe1KsxuXioKEnnLemJ0Hw68uffpZkkpTcszqrsEFOJ6UlMq6-B1Z7P2detqtOoABlYGgZJHf4oKFQ",
]
--- error_code eval
[200, 200, 401]
--- response_body eval
["sub=kid-rsa\n", "sub=alice\n", "denied: no_key\n"]



=== TEST 3: the kid mismatch is logged as "no key matches the token kid"
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.jwk;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.jwk")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsaWNlIn0.mak6SjbLxqClCjp6_9ntdku2QJF1A1PC2soqxM9rlxJJT_GnGP6e_IsltV9cEGFRL4TFh0cVT8ID3FenKzwtUskqZup-ddttTkZ_V0kFJQ_wz4Kr5byLQ3Gu3pqNEXZr3OJbV4VMZYLkXh7SKSvV4ZrlivUahJJjRexxiCrkSKpHgXa5cI_yAZD51qRCOtejfTY-Xy34CGMjmnOjPIOG_0TS8khh5JKTsvPAmBBCVDCmYYRHxfveI-phnyR4Y09RX-lb1gud1fe1KsxuXioKEnnLemJ0Hw68uffpZkkpTcszqrsEFOJ6UlMq6-B1Z7P2detqtOoABlYGgZJHf4oKFQ
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="test", error="invalid_token"
--- error_log
auth_jwt: no key matches the token kid (no_key), client: 127.0.0.1, request: "GET /t"



=== TEST 4: PEM SubjectPublicKeyInfo: RSA, EC P-256, Ed25519 and Ed448
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /rsa {
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
    location /ed25519 {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ed25519.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /ed448 {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ed448.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub", "ec256.pub", "ed25519.pub", "ed448.pub")
--- request eval
["GET /rsa", "GET /ec", "GET /ed25519", "GET /ed448", "GET /rsa", "GET /ed25519"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzI1NiJ9.Re1bEpJ7K8bE0AsxpFcztHzVwmjXgmlXqQa-2e8ijs0fuBYxXxQnY4QUa8KTbx5usIg6EQ26yo_hX3LwTsjPSg",
"Authorization: Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FZDI1NTE5In0.aAHXMk6abwLZlrDt-5zv03VOxIeyd8KUNED7OmbCMuhWA-Vlctbf1jR-DDEgh_YP7NsOVMn4TD5YxowFgOWUDg",
"Authorization: Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FZDQ0OCJ9.IoleChcEE_-49fVPEvoz4YjeTEuZeAhhIVooDf9Mv3npi5kaxzaA2la2dNd32mwz2JqVjyRmFMsAsXEoq8rBh--4x3fakMlWlIbll4H1bRRFEcdhfhC2qscy0JbqWBMxAergj7gB48DNyTd3xfwzRQgA",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzI1NiJ9.Re1bEpJ7K8bE0AsxpFcztHzVwmjXgmlXqQa-2e8ijs0fuBYxXxQnY4QUa8KTbx5usIg6EQ26yo_hX3LwTsjPSg",
"Authorization: Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FZDQ0OCJ9.IoleChcEE_-49fVPEvoz4YjeTEuZeAhhIVooDf9Mv3npi5kaxzaA2la2dNd32mwz2JqVjyRmFMsAsXEoq8rBh--4x3fakMlWlIbll4H1bRRFEcdhfhC2qscy0JbqWBMxAergj7gB48DNyTd3xfwzRQgA",
]
--- error_code eval
[200, 200, 200, 200, 401, 401]
--- response_body eval
["sub=alice\n", "sub=alg-ES256\n", "sub=alg-Ed25519\n", "sub=alg-Ed448\n", "denied: no_key\n", "denied: bad_signature\n"]
--- no_error_log
[warn]



=== TEST 5: PEM "RSA PUBLIC KEY" (PKCS#1) and "CERTIFICATE"
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /pkcs1 {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pkcs1.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /crt {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.crt;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pkcs1.pub", "rsa.crt")
--- request eval
["GET /pkcs1", "GET /pkcs1", "GET /crt", "GET /crt", "GET /crt"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1QUzI1NiJ9.nsDDBJGT6KH2xZ4msF_eaaKIS6ikVWp1YRtcUl3qpTBkYr6lt-A49aDDPnxcpsFEej-mfPAVRjwjwjuC70Vq69TS-xvfyghTjxhKdE3pqzBGbShLva_FSnoRaPDiD1HT1Jm9ccAz9KCNqp0i7YeznUXVe3IiO_OTeEtTyZwVyENqOzp04aVJlupoqsA55lbAs1yhzVG4MeAyyQAj8vzFaNsJMp5Z15Kn3zvVoVFglBp_soQtLCPoQ5Wskr-S063AZ64vcm6Dvn8S4umZegLfjQQrqNCP3W_P-qcZIrPHm8oIx6PecCqyU6AB68FUZMHrZAyRoZp4qWR2GaFLXSEvUg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A",
]
--- error_code eval
[200, 401, 200, 200, 401]
--- response_body eval
["sub=alice\n", "denied: bad_signature\n", "sub=alice\n", "sub=alg-PS256\n", "denied: bad_signature\n"]
--- no_error_log
[warn]



=== TEST 6: several auth_jwt_key_file directives: the keys of every file are candidates
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
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.pub;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub", "rsa2.pub", "ec256.jwk")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjMjU2IiwidHlwIjoiSldUIn0.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1lYzI1NiJ9.mXuj3csgxaUHr9XZsqb7Y8YvWSLDF27hcadM85-nloORoatng6Xvu9yFHg40jTkyfUMZl_Ge9csx7Pwm8otVUA",
"Authorization: Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FZDI1NTE5In0.aAHXMk6abwLZlrDt-5zv03VOxIeyd8KUNED7OmbCMuhWA-Vlctbf1jR-DDEgh_YP7NsOVMn4TD5YxowFgOWUDg",
]
--- error_code eval
[200, 200, 200, 401]
--- response_body eval
["sub=alice\n", "sub=mallory\n", "sub=kid-ec256\n", "denied: no_key\n"]



=== TEST 7: a PEM file with several blocks holds several keys
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_ec256.pem;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa_ec256.pem")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzI1NiJ9.Re1bEpJ7K8bE0AsxpFcztHzVwmjXgmlXqQa-2e8ijs0fuBYxXxQnY4QUa8KTbx5usIg6EQ26yo_hX3LwTsjPSg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A",
]
--- error_code eval
[200, 200, 401]
--- response_body eval
["sub=alice\n", "sub=alg-ES256\n", "denied: bad_signature\n"]



=== TEST 8: kid selection in a JWKS of two RSA keys
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/two_rsa.jwks;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("two_rsa.jwks")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1yc2EifQ.lR1xT9Glz6wU2ciZ3XLj6Rfz2JJZUnFWROKvCnrpJFBO3CoFEDeWee53AT-_tOSHXNxDxDDL39vMnTr_pI0zKQt4AJ-RKd4Lm3nWRZnWGGl4px5W5nSQKiSEqHZ8Mqrl_xJSHzGDqX4lfP7brsBQvVEhj2MXKAQ5YIT_WMt3iZl0nQwv_PJbIPGfqZVbgiSeSE-RpNoFR_VNYwrpdc7OqCmrG4xe26aBRwblw-TbIOzE_oePL205R8jAkClXAd3gSPjJqGkuB6RC1k7m7rqRaD8Sk25fTFFAH4TlL0V0UuVKKiqFYGj8-sn7pvZGPrxN-37-AoPgc-MjZbdN6Q11yg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTIiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1yc2EyIn0.ArXyXGzo5OlLwAqqBzp9WXmnoJ_21XUzIPad8CyRvIPsHQGIF2TuXBNv3Z95xTGzd8Yo0Tg4DiWwjGJiy9SL4o2Q4xtaIDjnmtwxUPzh-4Apq5zJJxnUro9jcMH6KEEd3JV7w6rEGkkHIrxY9PogMSSk7mg1gkl6QemSR7hlQfnFGlH9t2ZUxhPZVu7vkGNSsjdE1zmKcsdHE10X1IMPdxyo4AKPtqkO7MC2YkEUn1lX_YUZE52A9ZSzvSyWN3umAfU0N7KTOYMk4ez6rIqwJgYDqJo9b-aUTLdZMRsE-e3dKJ_l-aJPcc3a_eLka93upT-fniFU1LoXr7PmgBS44w",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImxpYXIifQ.FuYcg6Z31iSuB1hukFx-CzMbzY1pytcQH2I49dwu20MmwycVGgjMbV7iTkdoqINABE7Q8TfxXkiTV38I94GmPgUeuGBb1Udf1Fq5lk5hu8sTkjtG628_ndLb4o9QwdZ64n9CoFckmO-DEz2Ml09-qSRLc3xCWPNjYpkgM6qQH6c0ttQ4a1Hz3MgcvvPWRmKAptmXXwC7RyW4pweg2-nW8kcmgO2Ukx3QGdKiNW5-k8XlALZ1Ag4qEJFcCHOsVlv31rRJDH7QHyFn_bnP7vreE81PnE4ttSNC_ETlD0aNFN9Yt5tnba6PLCjYxbLMnDOK8u--eq9oahk8-4J_a8BVlA",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsaWNlIn0.mak6SjbLxqClCjp6_9ntdku2QJF1A1PC2soqxM9rlxJJT_GnGP6e_IsltV9cEGFRL4TFh0cVT8ID3FenKzwtUskqZup-ddttTkZ_V0kFJQ_wz4Kr5byLQ3Gu3pqNEXZr3OJbV4VMZYLkXh7SKSvV4ZrlivUahJJjRexxiCrkSKpHgXa5cI_yAZD51qRCOtejfTY-Xy34CGMjmnOjPIOG_0TS8khh5JKTsvPAmBBCVDCmYYRHxfveI-phnyR4Y09RX-lb1gud1fe1KsxuXioKEnnLemJ0Hw68uffpZkkpTcszqrsEFOJ6UlMq6-B1Z7P2detqtOoABlYGgZJHf4oKFQ",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A",
]
--- error_code eval
[200, 200, 401, 401, 200]
--- response_body eval
["sub=kid-rsa\n", "sub=kid-rsa2\n", "denied: bad_signature\n", "denied: no_key\n", "sub=mallory\n"]



=== TEST 9: PEM keys have no kid, so they are candidates for any token kid
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
    location /mixed {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.jwk;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub", "ec256.jwk")
--- request eval
["GET /t", "GET /t", "GET /mixed", "GET /mixed", "GET /mixed"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsaWNlIn0.mak6SjbLxqClCjp6_9ntdku2QJF1A1PC2soqxM9rlxJJT_GnGP6e_IsltV9cEGFRL4TFh0cVT8ID3FenKzwtUskqZup-ddttTkZ_V0kFJQ_wz4Kr5byLQ3Gu3pqNEXZr3OJbV4VMZYLkXh7SKSvV4ZrlivUahJJjRexxiCrkSKpHgXa5cI_yAZD51qRCOtejfTY-Xy34CGMjmnOjPIOG_0TS8khh5JKTsvPAmBBCVDCmYYRHxfveI-phnyR4Y09RX-lb1gud1fe1KsxuXioKEnnLemJ0Hw68uffpZkkpTcszqrsEFOJ6UlMq6-B1Z7P2detqtOoABlYGgZJHf4oKFQ",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYTIiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1yc2EyIn0.ArXyXGzo5OlLwAqqBzp9WXmnoJ_21XUzIPad8CyRvIPsHQGIF2TuXBNv3Z95xTGzd8Yo0Tg4DiWwjGJiy9SL4o2Q4xtaIDjnmtwxUPzh-4Apq5zJJxnUro9jcMH6KEEd3JV7w6rEGkkHIrxY9PogMSSk7mg1gkl6QemSR7hlQfnFGlH9t2ZUxhPZVu7vkGNSsjdE1zmKcsdHE10X1IMPdxyo4AKPtqkO7MC2YkEUn1lX_YUZE52A9ZSzvSyWN3umAfU0N7KTOYMk4ez6rIqwJgYDqJo9b-aUTLdZMRsE-e3dKJ_l-aJPcc3a_eLka93upT-fniFU1LoXr7PmgBS44w",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6Im5vcGUiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsaWNlIn0.mak6SjbLxqClCjp6_9ntdku2QJF1A1PC2soqxM9rlxJJT_GnGP6e_IsltV9cEGFRL4TFh0cVT8ID3FenKzwtUskqZup-ddttTkZ_V0kFJQ_wz4Kr5byLQ3Gu3pqNEXZr3OJbV4VMZYLkXh7SKSvV4ZrlivUahJJjRexxiCrkSKpHgXa5cI_yAZD51qRCOtejfTY-Xy34CGMjmnOjPIOG_0TS8khh5JKTsvPAmBBCVDCmYYRHxfveI-phnyR4Y09RX-lb1gud1fe1KsxuXioKEnnLemJ0Hw68uffpZkkpTcszqrsEFOJ6UlMq6-B1Z7P2detqtOoABlYGgZJHf4oKFQ",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsImtpZCI6ImVjMjU2IiwidHlwIjoiSldUIn0.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1lYzI1NiJ9.mXuj3csgxaUHr9XZsqb7Y8YvWSLDF27hcadM85-nloORoatng6Xvu9yFHg40jTkyfUMZl_Ge9csx7Pwm8otVUA",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzI1NiJ9.Re1bEpJ7K8bE0AsxpFcztHzVwmjXgmlXqQa-2e8ijs0fuBYxXxQnY4QUa8KTbx5usIg6EQ26yo_hX3LwTsjPSg",
]
--- error_code eval
[200, 401, 200, 200, 200]
--- response_body eval
["sub=alice\n", "denied: bad_signature\n", "sub=alice\n", "sub=kid-ec256\n", "sub=alg-ES256\n"]



=== TEST 10: key files are inherited; a level with its own key files replaces them
--- config
    auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;

    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /parent {
        auth_jwt "test";
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /child {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub", "rsa2.pub")
--- request eval
["GET /parent", "GET /parent", "GET /child", "GET /child"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A",
]
--- error_code eval
[200, 401, 401, 200]
--- response_body eval
["sub=alice\n", "denied: bad_signature\n", "denied: bad_signature\n", "sub=mallory\n"]



=== TEST 11: auth_jwt_key_file inside limit_except replaces the location's keys for the other methods
--- config
    location /echo {
        return 200 "$request_method sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        limit_except GET {
            auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.pub;
        }
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub", "rsa2.pub")
--- request eval
["GET /t", "GET /t", "POST /t", "POST /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A",
]
--- error_code eval
[200, 401, 401, 200]
--- response_body eval
["GET sub=alice\n", "denied: bad_signature\n", "denied: bad_signature\n", "POST sub=mallory\n"]



=== TEST 12: a relative path is relative to the configuration prefix
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file ../html/keys/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
[ [ "keys/rsa.pub", main::key("rsa.pub") ] ]
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q
--- request
GET /t
--- error_code: 200
--- response_body
sub=alice



=== TEST 13: an RSA key shorter than 2048 bits draws a [warn] naming the file, and still works
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /pem {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa1024.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /jwk {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa1024.jwk;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa1024.pub", "rsa1024.jwk")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6InNob3J0In0.Oa2EyCyhWpnK95vCrg_GnlUtrqzjloRw4QTYU9jEkw25MstpyxQfXCOdd2rOsKn_wqHJJBup_De0PmVPhRXkdhmj4mjfNVx8UWaTDbJUfB5gccaXy8qVEB5sfME-T21MIkyUhgt0YgwoRUJTTTs5sCP4lqcfH175-9IhaKJ0SrI
--- request
GET /pem
--- error_code: 200
--- response_body
sub=short
--- error_log eval
[
qr/\[warn\] .*auth_jwt_key_file: "\S+\/html\/rsa1024\.pub": PEM block #1: RSA key of 1024 bits is shorter than 2048 in \S+nginx\.conf:\d+/,
qr/\[warn\] .*auth_jwt_key_file: "\S+\/html\/rsa1024\.jwk": JWK #1: RSA key of 1024 bits is shorter than 2048 in \S+nginx\.conf:\d+/,
]



=== TEST 14: JWKS: a key with "use":"enc" is skipped with a [warn]; its kid then matches no key
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/enc_and_ec.jwks;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("enc_and_ec.jwks")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImVuYyIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImVuYyJ9.AUUxviU4S0hgVYbos2Je35QvUjSDEFzGItpjrAqOHZV4Z9Qx64rZfIlcZBAIF5P8yMkVTdouxY4q2bhaYz-ajTrHVT0mK_kCyoONIs-kbRyTLGB9v9XdaZZQ2QiTlzw2adFTZx_zbo_ZNWIFh1I7nX6959k4YIEToKHH1j6053kMq-vkh_mGVxV4j4RE1CXDasCibMH2NYbO2xvL4fL2czpZtyMiwbClkTE_BXq1TvHTCrcKOq_ZmfCEStGVq1UwfFTTSPf-PBBGyQxMSZgN3VuLuqrEfej-TATffMMiJ44xGnyObiiFKD5nkIhfoWfmlVzXc_h46GUwHClfAbroLw
--- request
GET /t
--- error_code: 401
--- response_body
denied: no_key
--- error_log eval
[
qr/\[warn\] .*auth_jwt_key_file: "\S+\/enc_and_ec\.jwks": JWK #1 has use "enc" and is ignored for signatures/,
"auth_jwt: no key matches the token kid (no_key)",
]



=== TEST 15: a JWK with private members: [warn], only the public part is used
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_private.jwk;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa_private.jwk")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1yc2EifQ.lR1xT9Glz6wU2ciZ3XLj6Rfz2JJZUnFWROKvCnrpJFBO3CoFEDeWee53AT-_tOSHXNxDxDDL39vMnTr_pI0zKQt4AJ-RKd4Lm3nWRZnWGGl4px5W5nSQKiSEqHZ8Mqrl_xJSHzGDqX4lfP7brsBQvVEhj2MXKAQ5YIT_WMt3iZl0nQwv_PJbIPGfqZVbgiSeSE-RpNoFR_VNYwrpdc7OqCmrG4xe26aBRwblw-TbIOzE_oePL205R8jAkClXAd3gSPjJqGkuB6RC1k7m7rqRaD8Sk25fTFFAH4TlL0V0UuVKKiqFYGj8-sn7pvZGPrxN-37-AoPgc-MjZbdN6Q11yg
--- request
GET /t
--- error_code: 200
--- response_body
sub=kid-rsa
--- error_log eval
qr/\[warn\] .*auth_jwt_key_file: "\S+\/rsa_private\.jwk": JWK #1 contains private key material; only its public part is used/



=== TEST 16: a missing key file stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/nope.pem;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/html\/nope\.pem": No such file or directory \(os error 2\) in \S+nginx\.conf:\d+/



=== TEST 17: a file without any key stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/garbage.txt;
    }
--- user_files
>>> garbage.txt
this is not a key
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/garbage\.txt": no key found: expected JWKS, JWK or PEM \(PUBLIC KEY, RSA PUBLIC KEY, CERTIFICATE\) in \S+nginx\.conf:\d+/



=== TEST 18: a private key file stops nginx with a hint
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.key;
    }
--- user_files eval
main::key_files("ec256.key")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/ec256\.key": file holds a PRIVATE KEY; give the public key \(openssl pkey -pubout\)/



=== TEST 19: an unsupported kty in a JWKS stops nginx and names the key
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/bad.jwks;
    }
--- user_files
>>> bad.jwks
{"keys": [{"kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},
          {"kty": "XYZ", "kid": "strange"}]}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/bad\.jwks": JWK #2: unsupported kty "XYZ"/



=== TEST 20: a file whose only key has "use":"enc" stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_enc.jwk;
    }
--- user_files eval
main::key_files("rsa_enc.jwk")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/rsa_enc\.jwk": no usable key found: every key in the file was skipped \(JWK #1 has use "enc" and is ignored for signatures\) in \S+nginx\.conf:\d+/
