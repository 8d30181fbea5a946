# auth_jwt_require: values that must be non-empty and not "0" once the token
# is valid, typically map results over claims; error=401|403; several values
# and several directives; inheritance; limit_except; configuration errors.
#
# Tokens are static, minted once with the test-only keys of t/keys (make.sh)
# and core's jwt-mint; "exp" 4102444800 is 2100-01-01.

use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key_files(): the keys of t/keys, read at run time

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->http_config) {
        $block->set_value("http_config", <<'_EOC_');
    map $jwt_claim_iss $iss_ok {
        default                0;
        "https://idp.example"  1;
    }
    map $jwt_claim_aud $aud_ok {
        "api"  1;
    }
    map $jwt_claim_roles $is_admin {
        "~(^|,)admin(,|$)"  1;
    }
_EOC_
    }
});

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a map over the issuer: a wrong or absent iss gets 401 invalid_token
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $iss_ok;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwic3ViIjoiZXZlIn0.je6sr5HvHzB8e3yCmJdrKjuIJIavpEcr9qlMpAzUlx6UrBxXSZXCRYTbUacPzvbkDunoKsv8HhwJ5e7DpgJe_ExtC4z_tlnOxr_zdTD9BjAglfkFDXqkv-q1dX2WQ71OZ4x_dxnTowJmUPeO-v9WCT6FM2iVRr6liyWjDIcGKkHIBvauSL6ONcCrR7gQC5IJkAcLZWLeV35oEjzP7WfCyl1ncaonJEbeyFsNzJmHCJU4duoijuhHu0mJ6ql5F256jZrYi1ca6P98UljzVhnn6AcilRXf8txKothiI6BggHh3jKcCQpThSEKTE2DYCkBmDh9C7qHso9eabSSJW9HUsQ",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFub24ifQ.axB8SolAvqOKcPyxGEAeQtAJRcpAtYxVQLIM-0Qp_dUOhfIMiFPqN1ABXqLxMctNxTgGGfX8PeVokYhv2zevZTXt_SQwb-lumaKkMQJns9yHUCmjk6Bv-RDy1e9aJ_ZkD5Pi-j0wVGerNHSFzAdtDqdHkgTLc1yd-Cf7KAFN7a4skDU0jSXBVLxCyH2i5VrCxF4andG-lfTFjz14MuCEVEzsUEC4xvpIToVQVrhHpqmlOoGWGKLPpSeingKHPfP8hWMmftD9Uv_PDwUw4r-38LBzin5B8_i4r2t4QMEvgN6NFMeaWHtF6ISMnQJ2CaHybKeHwZlm3-T70CMnPLlLMA",
]
--- error_code eval
[200, 401, 401]
--- response_headers eval
["!WWW-Authenticate", 'WWW-Authenticate: Bearer realm="api", error="invalid_token"',
 'WWW-Authenticate: Bearer realm="api", error="invalid_token"']
--- response_body_like eval
["^sub=alice\n\\z", "401 Authorization Required", "401 Authorization Required"]



=== TEST 2: a failed requirement is logged once and sets $auth_jwt_status to require_failed
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status sub=$jwt_claim_sub\n";
    }
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $iss_ok;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwic3ViIjoiZXZlIn0.je6sr5HvHzB8e3yCmJdrKjuIJIavpEcr9qlMpAzUlx6UrBxXSZXCRYTbUacPzvbkDunoKsv8HhwJ5e7DpgJe_ExtC4z_tlnOxr_zdTD9BjAglfkFDXqkv-q1dX2WQ71OZ4x_dxnTowJmUPeO-v9WCT6FM2iVRr6liyWjDIcGKkHIBvauSL6ONcCrR7gQC5IJkAcLZWLeV35oEjzP7WfCyl1ncaonJEbeyFsNzJmHCJU4duoijuhHu0mJ6ql5F256jZrYi1ca6P98UljzVhnn6AcilRXf8txKothiI6BggHh3jKcCQpThSEKTE2DYCkBmDh9C7qHso9eabSSJW9HUsQ
--- request
GET /t
--- error_code: 401
--- response_body
denied: require_failed sub=eve
--- grep_error_log eval
qr/auth_jwt: .*/
--- grep_error_log_out
auth_jwt: a value of "auth_jwt_require" is empty or "0" (require_failed), client: 127.0.0.1, request: "GET /t"



=== TEST 3: error=403 answers 403 without a challenge
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $iss_ok error=403;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwic3ViIjoiZXZlIn0.je6sr5HvHzB8e3yCmJdrKjuIJIavpEcr9qlMpAzUlx6UrBxXSZXCRYTbUacPzvbkDunoKsv8HhwJ5e7DpgJe_ExtC4z_tlnOxr_zdTD9BjAglfkFDXqkv-q1dX2WQ71OZ4x_dxnTowJmUPeO-v9WCT6FM2iVRr6liyWjDIcGKkHIBvauSL6ONcCrR7gQC5IJkAcLZWLeV35oEjzP7WfCyl1ncaonJEbeyFsNzJmHCJU4duoijuhHu0mJ6ql5F256jZrYi1ca6P98UljzVhnn6AcilRXf8txKothiI6BggHh3jKcCQpThSEKTE2DYCkBmDh9C7qHso9eabSSJW9HUsQ
--- request
GET /t
--- error_code: 403
--- response_headers
!WWW-Authenticate
--- response_body_like: 403 Forbidden
--- error_log
auth_jwt: a value of "auth_jwt_require" is empty or "0" (require_failed)



=== TEST 4: every value of one directive must hold
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $iss_ok $aud_ok;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwic3ViIjoiZXZlIn0.je6sr5HvHzB8e3yCmJdrKjuIJIavpEcr9qlMpAzUlx6UrBxXSZXCRYTbUacPzvbkDunoKsv8HhwJ5e7DpgJe_ExtC4z_tlnOxr_zdTD9BjAglfkFDXqkv-q1dX2WQ71OZ4x_dxnTowJmUPeO-v9WCT6FM2iVRr6liyWjDIcGKkHIBvauSL6ONcCrR7gQC5IJkAcLZWLeV35oEjzP7WfCyl1ncaonJEbeyFsNzJmHCJU4duoijuhHu0mJ6ql5F256jZrYi1ca6P98UljzVhnn6AcilRXf8txKothiI6BggHh3jKcCQpThSEKTE2DYCkBmDh9C7qHso9eabSSJW9HUsQ",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJyb2xlcyI6WyJ1c2VyIiwiYWRtaW4iXSwic3ViIjoicm9vdCJ9.JuYpLXz8y4w1Fgpi6AKUwLPXzQJO96H0Vc-bIoPHohHXmpKJ2_HLBIETTvIC1gD0H6a3oSZQuP8keDZXQuYbtARR63YdLbKPRSsQgUlDPnWaSQHBaCvTw5TPk3c-o6u-iqTTXXmEQj-HI-H6O5QfaBAqaHG8ZMbXaqWSNA6yEArpR6Z0aDgh8cltZ8xdg4B-1EuW5A_Zl8gYDYGB8_XHxzjLrOeslD5JxkSV_p_OcTNrdDYePmrrU0izkVl6Yc8Bog3bpeX2xzjXmlW_9DI4Fw8oKnIJRVJb92EF0B0BREm_ktHndtiLuEiZyU9R4In9dZReEUVg2lo3PEq4UWzuAQ",
]
--- error_code eval
[200, 401, 401]
--- response_body_like eval
["^sub=alice\n\\z", "401 Authorization Required", "401 Authorization Required"]



=== TEST 5: several directives are checked in order; the first that fails chooses the status
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $iss_ok error=403;
        auth_jwt_require $is_admin;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwicm9sZXMiOlsiYWRtaW4iXSwic3ViIjoiZXZpbC1hZG1pbiJ9.NBozYOdTtyqJRLbIhVcra7DOd0z3rIWEH83LsIcQn4owOSChiwqgsOVyH_uHYQ9cVJtjkv8_FGyw6Ev-RVJdkePNWZ4ll-45UUU8ICxlx9WF-TDPzeK0rG3HKGAPDxXD6iQnvH78fGRgosc4LsJ7-aw_V9eCi6D3P-6nqSGEcqImQ0VkB76R1jSUZBeFASuXfQWq2uGolA0t12X9yHSruWHwc-zAOJ6DnMzPK7KEC-zPH8RRxaoCWvRGQMQJ3x4FAzyH91D1ZpaoQMATkj42UW60yBjR8MmnPSgnmHRgIYAHDiLo15cYY5f4MEFx3zcFn51TbCQJTHn1eqRu_ZNZpg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJyb2xlcyI6WyJ1c2VyIl0sInN1YiI6ImpvZSJ9.ngIlL43Tv1D1i5XF9rDlPI-9ms--25t9wMonpI1SF14l2zeMdeC2Ijdn_Pt_A2d2Ed18ouPbuORczb6c8BbLR9sX_0V2P-V2xRnLYqrtGjNE1rXn8UmDGgq4LvsHUc9dYzadenAmE9RbVTZcZqCD__h9I6q96YiM3OkmnWYKEbn1U2Zkgr_bCmFIYN5pPffw5M5D3m_ctlPldxGFM8kzEnSCTnPJcprzD0kCy0EZM6jSGShYRxhwukVfLONQWWRDgsIrdzNAo1wGgAfGlCnRzYV2-D94v2rV4URmmRZ1KvW8MRxvTPOkuf1HFL4UMEg34aDPfnd4QyRiOtYXVCVh0A",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJyb2xlcyI6WyJ1c2VyIiwiYWRtaW4iXSwic3ViIjoicm9vdCJ9.JuYpLXz8y4w1Fgpi6AKUwLPXzQJO96H0Vc-bIoPHohHXmpKJ2_HLBIETTvIC1gD0H6a3oSZQuP8keDZXQuYbtARR63YdLbKPRSsQgUlDPnWaSQHBaCvTw5TPk3c-o6u-iqTTXXmEQj-HI-H6O5QfaBAqaHG8ZMbXaqWSNA6yEArpR6Z0aDgh8cltZ8xdg4B-1EuW5A_Zl8gYDYGB8_XHxzjLrOeslD5JxkSV_p_OcTNrdDYePmrrU0izkVl6Yc8Bog3bpeX2xzjXmlW_9DI4Fw8oKnIJRVJb92EF0B0BREm_ktHndtiLuEiZyU9R4In9dZReEUVg2lo3PEq4UWzuAQ",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwic3ViIjoiZXZlIn0.je6sr5HvHzB8e3yCmJdrKjuIJIavpEcr9qlMpAzUlx6UrBxXSZXCRYTbUacPzvbkDunoKsv8HhwJ5e7DpgJe_ExtC4z_tlnOxr_zdTD9BjAglfkFDXqkv-q1dX2WQ71OZ4x_dxnTowJmUPeO-v9WCT6FM2iVRr6liyWjDIcGKkHIBvauSL6ONcCrR7gQC5IJkAcLZWLeV35oEjzP7WfCyl1ncaonJEbeyFsNzJmHCJU4duoijuhHu0mJ6ql5F256jZrYi1ca6P98UljzVhnn6AcilRXf8txKothiI6BggHh3jKcCQpThSEKTE2DYCkBmDh9C7qHso9eabSSJW9HUsQ",
]
--- error_code eval
[403, 401, 200, 403]
--- response_headers eval
["!WWW-Authenticate", 'WWW-Authenticate: Bearer realm="api", error="invalid_token"', "!WWW-Authenticate", "!WWW-Authenticate"]
--- response_body_like eval
["403 Forbidden", "401 Authorization Required", "^sub=root\n\\z", "403 Forbidden"]



=== TEST 6: only an empty value or "0" fails: a claim 0 fails, a claim false or 1 passes
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /level {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $jwt_claim_level;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /verified {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $jwt_claim_verified;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /level", "GET /level", "GET /verified", "GET /verified", "GET /verified"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImxldmVsIjowLCJzdWIiOiJ6ZXJvIiwidmVyaWZpZWQiOmZhbHNlfQ.F8Iqw-IQycaSaAcpt8Qs9taBOG1eSlpWCjXDcKXwCEjKNGCPccOQb6JgXupqgqUnkRB6HMRLFUIwtkwNTL-K80YkpUjXDO7XoCkcH5j4Xv392IKGVw2TcaUNGETEcFwIXv_axfN_quRQ2fOPqYWEfrOgbMMx8ZkkP5FeXsLr1u_1vTZFH6h2d7t0otDZR80LUXdVxg-Dk-N_Gl8XXAD0t3JuJIrYvZ8pna9IJKLT9N9Dj1SDfLoWusvGuPLiqNe2RxPXsk5BBL3pyxq5ZIrDeDSMKT_GOBhR-apOW4IWYaPNCrjD_isTV21003pZ6AWcAEnAtxDOzAOdYl4RIkLlkQ",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImxldmVsIjoxLCJzdWIiOiJvbmUiLCJ2ZXJpZmllZCI6dHJ1ZX0.VSPxp1A_mjZa5b31ad3Gffjoc3OspAK2Yln08sbbAiRszjygxj48nFZvHKwRYW8PdEuAHViXron1pjZ2jFBTZr0UUd0uZ1zcRiAq3fw1L_bdBNBkCLKNcJUoPCxqGSqx7TFPOs3BRreL1r6jw5UwoKAdYSNdnY1KFAQF0VajOwOAWk60XKNLjVC2Lu6UW7RP8Y3YwG2P-XwpVy8GlKMNgg8YPvdoJvc8ntSa1TFzTJSL10zQ7dLko89ALXrJkp5Ywot4NVGhuZe8TXGrn1XZd3FtanaBy3g3qWa9KalBG3hXCaEaX2r8wLTeEVVXnjKJ08uq-xls8sED0yyKk5Xs_g",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImxldmVsIjowLCJzdWIiOiJ6ZXJvIiwidmVyaWZpZWQiOmZhbHNlfQ.F8Iqw-IQycaSaAcpt8Qs9taBOG1eSlpWCjXDcKXwCEjKNGCPccOQb6JgXupqgqUnkRB6HMRLFUIwtkwNTL-K80YkpUjXDO7XoCkcH5j4Xv392IKGVw2TcaUNGETEcFwIXv_axfN_quRQ2fOPqYWEfrOgbMMx8ZkkP5FeXsLr1u_1vTZFH6h2d7t0otDZR80LUXdVxg-Dk-N_Gl8XXAD0t3JuJIrYvZ8pna9IJKLT9N9Dj1SDfLoWusvGuPLiqNe2RxPXsk5BBL3pyxq5ZIrDeDSMKT_GOBhR-apOW4IWYaPNCrjD_isTV21003pZ6AWcAEnAtxDOzAOdYl4RIkLlkQ",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImxldmVsIjoxLCJzdWIiOiJvbmUiLCJ2ZXJpZmllZCI6dHJ1ZX0.VSPxp1A_mjZa5b31ad3Gffjoc3OspAK2Yln08sbbAiRszjygxj48nFZvHKwRYW8PdEuAHViXron1pjZ2jFBTZr0UUd0uZ1zcRiAq3fw1L_bdBNBkCLKNcJUoPCxqGSqx7TFPOs3BRreL1r6jw5UwoKAdYSNdnY1KFAQF0VajOwOAWk60XKNLjVC2Lu6UW7RP8Y3YwG2P-XwpVy8GlKMNgg8YPvdoJvc8ntSa1TFzTJSL10zQ7dLko89ALXrJkp5Ywot4NVGhuZe8TXGrn1XZd3FtanaBy3g3qWa9KalBG3hXCaEaX2r8wLTeEVVXnjKJ08uq-xls8sED0yyKk5Xs_g",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
]
--- error_code eval
[401, 200, 200, 200, 401]
--- response_body eval
["denied: require_failed\n", "sub=one\n", "sub=zero\n", "sub=one\n", "denied: require_failed\n"]



=== TEST 7: a map with a regex over an array claim (roles joined by commas)
--- config
    location /echo {
        return 200 "sub=$http_x_sub roles=$http_x_roles\n";
    }
    location /admin {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $is_admin error=403;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Roles $jwt_claim_roles;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /admin", "GET /admin", "GET /admin"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJyb2xlcyI6WyJ1c2VyIiwiYWRtaW4iXSwic3ViIjoicm9vdCJ9.JuYpLXz8y4w1Fgpi6AKUwLPXzQJO96H0Vc-bIoPHohHXmpKJ2_HLBIETTvIC1gD0H6a3oSZQuP8keDZXQuYbtARR63YdLbKPRSsQgUlDPnWaSQHBaCvTw5TPk3c-o6u-iqTTXXmEQj-HI-H6O5QfaBAqaHG8ZMbXaqWSNA6yEArpR6Z0aDgh8cltZ8xdg4B-1EuW5A_Zl8gYDYGB8_XHxzjLrOeslD5JxkSV_p_OcTNrdDYePmrrU0izkVl6Yc8Bog3bpeX2xzjXmlW_9DI4Fw8oKnIJRVJb92EF0B0BREm_ktHndtiLuEiZyU9R4In9dZReEUVg2lo3PEq4UWzuAQ",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJyb2xlcyI6WyJ1c2VyIl0sInN1YiI6ImpvZSJ9.ngIlL43Tv1D1i5XF9rDlPI-9ms--25t9wMonpI1SF14l2zeMdeC2Ijdn_Pt_A2d2Ed18ouPbuORczb6c8BbLR9sX_0V2P-V2xRnLYqrtGjNE1rXn8UmDGgq4LvsHUc9dYzadenAmE9RbVTZcZqCD__h9I6q96YiM3OkmnWYKEbn1U2Zkgr_bCmFIYN5pPffw5M5D3m_ctlPldxGFM8kzEnSCTnPJcprzD0kCy0EZM6jSGShYRxhwukVfLONQWWRDgsIrdzNAo1wGgAfGlCnRzYV2-D94v2rV4URmmRZ1KvW8MRxvTPOkuf1HFL4UMEg34aDPfnd4QyRiOtYXVCVh0A",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
]
--- error_code eval
[200, 403, 403]
--- response_body_like eval
["^sub=root roles=user,admin\n\\z", "403 Forbidden", "403 Forbidden"]



=== TEST 8: requirements are inherited only by levels that have none of their own
--- config
    auth_jwt "api";
    auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    auth_jwt_require $iss_ok;

    location /echo {
        auth_jwt off;
        return 200 "sub=$http_x_sub\n";
    }
    location /inherits {
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /replaces {
        auth_jwt_require $is_admin error=403;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /inherits", "GET /inherits", "GET /replaces", "GET /replaces"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwicm9sZXMiOlsiYWRtaW4iXSwic3ViIjoiZXZpbC1hZG1pbiJ9.NBozYOdTtyqJRLbIhVcra7DOd0z3rIWEH83LsIcQn4owOSChiwqgsOVyH_uHYQ9cVJtjkv8_FGyw6Ev-RVJdkePNWZ4ll-45UUU8ICxlx9WF-TDPzeK0rG3HKGAPDxXD6iQnvH78fGRgosc4LsJ7-aw_V9eCi6D3P-6nqSGEcqImQ0VkB76R1jSUZBeFASuXfQWq2uGolA0t12X9yHSruWHwc-zAOJ6DnMzPK7KEC-zPH8RRxaoCWvRGQMQJ3x4FAzyH91D1ZpaoQMATkj42UW60yBjR8MmnPSgnmHRgIYAHDiLo15cYY5f4MEFx3zcFn51TbCQJTHn1eqRu_ZNZpg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwicm9sZXMiOlsiYWRtaW4iXSwic3ViIjoiZXZpbC1hZG1pbiJ9.NBozYOdTtyqJRLbIhVcra7DOd0z3rIWEH83LsIcQn4owOSChiwqgsOVyH_uHYQ9cVJtjkv8_FGyw6Ev-RVJdkePNWZ4ll-45UUU8ICxlx9WF-TDPzeK0rG3HKGAPDxXD6iQnvH78fGRgosc4LsJ7-aw_V9eCi6D3P-6nqSGEcqImQ0VkB76R1jSUZBeFASuXfQWq2uGolA0t12X9yHSruWHwc-zAOJ6DnMzPK7KEC-zPH8RRxaoCWvRGQMQJ3x4FAzyH91D1ZpaoQMATkj42UW60yBjR8MmnPSgnmHRgIYAHDiLo15cYY5f4MEFx3zcFn51TbCQJTHn1eqRu_ZNZpg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
]
--- error_code eval
[200, 401, 200, 403]
--- response_body_like eval
["^sub=alice\n\\z", "401 Authorization Required", "^sub=evil-admin\n\\z", "403 Forbidden"]



=== TEST 9: auth_jwt_require inside limit_except applies to the other methods only
--- config
    location /echo {
        return 200 "$request_method sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        limit_except GET {
            auth_jwt_require $is_admin error=403;
        }
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "POST /t", "POST /t", "POST /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJyb2xlcyI6WyJ1c2VyIl0sInN1YiI6ImpvZSJ9.ngIlL43Tv1D1i5XF9rDlPI-9ms--25t9wMonpI1SF14l2zeMdeC2Ijdn_Pt_A2d2Ed18ouPbuORczb6c8BbLR9sX_0V2P-V2xRnLYqrtGjNE1rXn8UmDGgq4LvsHUc9dYzadenAmE9RbVTZcZqCD__h9I6q96YiM3OkmnWYKEbn1U2Zkgr_bCmFIYN5pPffw5M5D3m_ctlPldxGFM8kzEnSCTnPJcprzD0kCy0EZM6jSGShYRxhwukVfLONQWWRDgsIrdzNAo1wGgAfGlCnRzYV2-D94v2rV4URmmRZ1KvW8MRxvTPOkuf1HFL4UMEg34aDPfnd4QyRiOtYXVCVh0A",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJyb2xlcyI6WyJ1c2VyIl0sInN1YiI6ImpvZSJ9.ngIlL43Tv1D1i5XF9rDlPI-9ms--25t9wMonpI1SF14l2zeMdeC2Ijdn_Pt_A2d2Ed18ouPbuORczb6c8BbLR9sX_0V2P-V2xRnLYqrtGjNE1rXn8UmDGgq4LvsHUc9dYzadenAmE9RbVTZcZqCD__h9I6q96YiM3OkmnWYKEbn1U2Zkgr_bCmFIYN5pPffw5M5D3m_ctlPldxGFM8kzEnSCTnPJcprzD0kCy0EZM6jSGShYRxhwukVfLONQWWRDgsIrdzNAo1wGgAfGlCnRzYV2-D94v2rV4URmmRZ1KvW8MRxvTPOkuf1HFL4UMEg34aDPfnd4QyRiOtYXVCVh0A",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJyb2xlcyI6WyJ1c2VyIiwiYWRtaW4iXSwic3ViIjoicm9vdCJ9.JuYpLXz8y4w1Fgpi6AKUwLPXzQJO96H0Vc-bIoPHohHXmpKJ2_HLBIETTvIC1gD0H6a3oSZQuP8keDZXQuYbtARR63YdLbKPRSsQgUlDPnWaSQHBaCvTw5TPk3c-o6u-iqTTXXmEQj-HI-H6O5QfaBAqaHG8ZMbXaqWSNA6yEArpR6Z0aDgh8cltZ8xdg4B-1EuW5A_Zl8gYDYGB8_XHxzjLrOeslD5JxkSV_p_OcTNrdDYePmrrU0izkVl6Yc8Bog3bpeX2xzjXmlW_9DI4Fw8oKnIJRVJb92EF0B0BREm_ktHndtiLuEiZyU9R4In9dZReEUVg2lo3PEq4UWzuAQ",
"",
]
--- error_code eval
[200, 403, 200, 401]
--- response_body_like eval
["^GET sub=joe\n\\z", "403 Forbidden", "^POST sub=root\n\\z", "401 Authorization Required"]



=== TEST 10: requirements are not evaluated for an invalid token
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $iss_ok error=403;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMDAwMDAwMDAsInN1YiI6ImFsaWNlIn0.Gr1cr_N1WMSwVg8F_qeu-Ff_cOshNYaVn2OTqWuVLmvRq_wsLZLRwlsRMg2BjKTlANlbvoIJGNad1xlNnyMCaOyP0RKiJipIohUR5sMKWVYXVjSrbUopHtMBPfwJS7IDGlE3t3O_-F9Ep2M-PCA_ztLr9mox-icMYSMgCG7ssRedYaoClqddXWxsXqeIfTqG-hyMHXfqNzTKhV-FXEQPZmujTSTdC-f6zQM-zutZ8UtZnFDj7HE1Bt3olyF_O_MrozW7zQdPZoncZ88bbQhxMPUE4MpuvpePYGiPRtyeGgwJsKPnDNfTvg_kH2__s2QyjJbIw3X2XA7oitJ_sGm2Aw
--- request
GET /t
--- error_code: 401
--- response_body
denied: expired
--- error_log
auth_jwt: token has expired (expired)
--- no_error_log
require_failed



=== TEST 11: without auth_jwt (or with auth_jwt off) auth_jwt_require does nothing
--- config
    location /echo {
        return 200 "sub=$http_x_sub status=$http_x_status\n";
    }
    location /none {
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $iss_ok error=403;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Status $auth_jwt_status;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /off {
        auth_jwt off;
        auth_jwt_require $iss_ok error=403;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Status $auth_jwt_status;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /none", "GET /off"]
--- more_headers eval
["", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwic3ViIjoiZXZlIn0.je6sr5HvHzB8e3yCmJdrKjuIJIavpEcr9qlMpAzUlx6UrBxXSZXCRYTbUacPzvbkDunoKsv8HhwJ5e7DpgJe_ExtC4z_tlnOxr_zdTD9BjAglfkFDXqkv-q1dX2WQ71OZ4x_dxnTowJmUPeO-v9WCT6FM2iVRr6liyWjDIcGKkHIBvauSL6ONcCrR7gQC5IJkAcLZWLeV35oEjzP7WfCyl1ncaonJEbeyFsNzJmHCJU4duoijuhHu0mJ6ql5F256jZrYi1ca6P98UljzVhnn6AcilRXf8txKothiI6BggHh3jKcCQpThSEKTE2DYCkBmDh9C7qHso9eabSSJW9HUsQ"]
--- error_code eval
[200, 200]
--- response_body eval
["sub= status=\n", "sub= status=\n"]
--- no_error_log
auth_jwt:



=== TEST 12: error_page 403 sees the request's claims and status
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @forbidden {
        return 403 "forbidden: $auth_jwt_status for $jwt_claim_sub from $jwt_claim_iss\n";
    }
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $iss_ok error=403;
        error_page 403 = @forbidden;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwic3ViIjoiZXZlIn0.je6sr5HvHzB8e3yCmJdrKjuIJIavpEcr9qlMpAzUlx6UrBxXSZXCRYTbUacPzvbkDunoKsv8HhwJ5e7DpgJe_ExtC4z_tlnOxr_zdTD9BjAglfkFDXqkv-q1dX2WQ71OZ4x_dxnTowJmUPeO-v9WCT6FM2iVRr6liyWjDIcGKkHIBvauSL6ONcCrR7gQC5IJkAcLZWLeV35oEjzP7WfCyl1ncaonJEbeyFsNzJmHCJU4duoijuhHu0mJ6ql5F256jZrYi1ca6P98UljzVhnn6AcilRXf8txKothiI6BggHh3jKcCQpThSEKTE2DYCkBmDh9C7qHso9eabSSJW9HUsQ
--- request
GET /t
--- error_code: 403
--- response_body
forbidden: require_failed for eve from https://evil.example



=== TEST 13: a header member can be required too ($jwt_header_kid)
--- config
    location /echo {
        return 200 "sub=$http_x_sub kid=$http_x_kid\n";
    }
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.jwk;
        auth_jwt_require $jwt_header_kid error=403;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Kid $jwt_header_kid;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1yc2EifQ.lR1xT9Glz6wU2ciZ3XLj6Rfz2JJZUnFWROKvCnrpJFBO3CoFEDeWee53AT-_tOSHXNxDxDDL39vMnTr_pI0zKQt4AJ-RKd4Lm3nWRZnWGGl4px5W5nSQKiSEqHZ8Mqrl_xJSHzGDqX4lfP7brsBQvVEhj2MXKAQ5YIT_WMt3iZl0nQwv_PJbIPGfqZVbgiSeSE-RpNoFR_VNYwrpdc7OqCmrG4xe26aBRwblw-TbIOzE_oePL205R8jAkClXAd3gSPjJqGkuB6RC1k7m7rqRaD8Sk25fTFFAH4TlL0V0UuVKKiqFYGj8-sn7pvZGPrxN-37-AoPgc-MjZbdN6Q11yg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
]
--- error_code eval
[200, 403]
--- response_body_like eval
["^sub=kid-rsa kid=rsa\n\\z", "403 Forbidden"]



=== TEST 14: auth_jwt_require needs a value before error=
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require error=403;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_require: at least one value is needed before "error=" in \S+nginx\.conf:\d+/



=== TEST 15: auth_jwt_require accepts only error=401 or error=403
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $iss_ok error=500;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_require: invalid "error=500": use 401 or 403 in \S+nginx\.conf:\d+/



=== TEST 16: error= must be the last parameter
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require error=403 $iss_ok;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_require: "error=" must be the last parameter in \S+nginx\.conf:\d+/
