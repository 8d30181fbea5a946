# auth_jwt: on/off and inheritance, limit_except, the realm, where the token is
# taken from, error_page, satisfy and configuration errors.
#
# Tokens are static, minted once with the test-only keys of t/keys (make.sh)
# and core's jwt-mint; "exp" 4102444800 is 2100-01-01.  Protected locations
# reach their content through proxy_pass (the access phase runs before it;
# "return" would run before the access phase and never check anything).

use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key_files(): the keys of t/keys, read at run time

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: no token: 401 with a Bearer challenge without error attribute
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="test"
--- response_body_like: 401 Authorization Required
--- error_log eval
qr/\[info\] .*auth_jwt: no bearer token in the Authorization header \(missing\), client: 127\.0\.0\.1, request: "GET \/t"$/
--- no_error_log
[error]
[warn]



=== TEST 2: valid Bearer token: the request goes through with its claims
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q
--- request
GET /t
--- error_code: 200
--- response_body
sub=alice
--- response_headers
!WWW-Authenticate
--- no_error_log
auth_jwt:
[error]
[warn]



=== TEST 3: the Bearer scheme is case-insensitive; blanks before the token are skipped
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: BEARER eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: bEaReR     eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer \t eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
["sub=alice\n", "sub=alice\n", "sub=alice\n", "sub=alice\n"]
--- no_error_log
auth_jwt:
[error]



=== TEST 4: other schemes and a scheme without credentials count as no token
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Basic dXNlcjpwYXNz",
"Authorization: Bearer",
"Authorization: BearereyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Token eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"X-Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
]
--- error_code eval
[401, 401, 401, 401, 401]
--- response_headers eval
[
'WWW-Authenticate: Bearer realm="test"',
'WWW-Authenticate: Bearer realm="test"',
'WWW-Authenticate: Bearer realm="test"',
'WWW-Authenticate: Bearer realm="test"',
'WWW-Authenticate: Bearer realm="test"',
]
--- response_body_like eval
["401 Authorization Required", "401 Authorization Required", "401 Authorization Required",
 "401 Authorization Required", "401 Authorization Required"]
--- grep_error_log eval
qr/auth_jwt: [^,]*/
--- grep_error_log_out
auth_jwt: no bearer token in the Authorization header (missing)



=== TEST 5: invalid token: 401 with error="invalid_token", one info line, the token is never logged
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6Im1hbGxvcnkifQ.BQpn40Ok3dHeKBs3rIIgNStuLCGnUZlbMIl76UPh9AxD7pTzyzRufsm_d4dey_X_sWM2fAiahCcL4-kScU0gswZAFYRMRjfNFwRJzkkFNdDCLbFb3AFrQsrsOY-BRi9Pb4rPB_urwbOXMQA_gltiWGRrTa7mun4FFeWnJRDjQbaBF2yZadKOezda9P1CkoXO9XPothXFrMedpYkWhN6JcrqSOwbdTAXw0NNRZzy_2jMQGdkls_ol6khoAA37Zhwbe7iK1HqRw_o0xdYGoTCJzklzCBwha1tzuyx6UAMFD2QaocMVdFUmUfoJr0L4xPjnTOXupsJfwX_kpMlzHlkc6A
--- request
GET /t/x?a=1
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="test", error="invalid_token"
--- response_body_like: 401 Authorization Required
--- grep_error_log eval
qr/\[info\] .*auth_jwt: .*/
--- grep_error_log_out eval
qr/^\[info\] \d+#\d+: \*\d+ auth_jwt: signature verification failed \(bad_signature\), client: 127\.0\.0\.1, request: "GET \/t\/x\?\.\.\."\n\z/
--- no_error_log
eyJ
a=1
[error]



=== TEST 6: auth_jwt at server level protects every location; "auth_jwt off" cancels it
--- config
    auth_jwt "srv";
    auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;

    location /echo {
        auth_jwt off;
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /open {
        auth_jwt off;
        proxy_set_header X-Sub "[$jwt_claim_sub][$auth_jwt_status]";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /open", "GET /open"]
--- more_headers eval
["", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q", "", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q"]
--- error_code eval
[401, 200, 200, 200]
--- response_body_like eval
["401 Authorization Required", "^sub=alice\n\\z", "^sub=\\[\\]\\[\\]\n\\z", "^sub=\\[\\]\\[\\]\n\\z"]
--- no_error_log
[error]



=== TEST 7: http-level settings are inherited; a location can override the realm
--- http_config
    auth_jwt "outer";
    auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
--- config
    location /echo {
        auth_jwt off;
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;

        location /t/inner {
            auth_jwt "inner";
            proxy_set_header X-Sub $jwt_claim_sub;
            proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
        }
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t/inner", "GET /t/inner"]
--- more_headers eval
["", "", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q"]
--- error_code eval
[401, 401, 200]
--- response_headers eval
['WWW-Authenticate: Bearer realm="outer"', 'WWW-Authenticate: Bearer realm="inner"', "!WWW-Authenticate"]
--- response_body_like eval
["401 Authorization Required", "401 Authorization Required", "^sub=alice\n\\z"]



=== TEST 8: auth_jwt inside limit_except protects only the other methods
--- config
    location /echo {
        return 200 "$request_method sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        limit_except GET {
            auth_jwt "writes";
        }
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "POST /t", "POST /t", "DELETE /t"]
--- more_headers eval
["", "", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMDAwMDAwMDAsInN1YiI6ImFsaWNlIn0.Gr1cr_N1WMSwVg8F_qeu-Ff_cOshNYaVn2OTqWuVLmvRq_wsLZLRwlsRMg2BjKTlANlbvoIJGNad1xlNnyMCaOyP0RKiJipIohUR5sMKWVYXVjSrbUopHtMBPfwJS7IDGlE3t3O_-F9Ep2M-PCA_ztLr9mox-icMYSMgCG7ssRedYaoClqddXWxsXqeIfTqG-hyMHXfqNzTKhV-FXEQPZmujTSTdC-f6zQM-zutZ8UtZnFDj7HE1Bt3olyF_O_MrozW7zQdPZoncZ88bbQhxMPUE4MpuvpePYGiPRtyeGgwJsKPnDNfTvg_kH2__s2QyjJbIw3X2XA7oitJ_sGm2Aw"]
--- error_code eval
[200, 401, 200, 401]
--- response_headers eval
["!WWW-Authenticate", 'WWW-Authenticate: Bearer realm="writes"', "!WWW-Authenticate",
 'WWW-Authenticate: Bearer realm="writes", error="invalid_token"']
--- response_body_like eval
["^GET sub=\n\\z", "401 Authorization Required", "^POST sub=alice\n\\z", "401 Authorization Required"]
--- no_error_log
[error]



=== TEST 9: the realm is a complex value; quotes and backslashes are escaped in the challenge
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "api of $host for $arg_who";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /q {
        auth_jwt 'say "hi" \\ bye';
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t?who=me", "GET /q", "GET /q"]
--- more_headers eval
["", "", "Authorization: Bearer not.a.token"]
--- error_code eval
[401, 401, 401]
--- response_headers eval
[
'WWW-Authenticate: Bearer realm="api of localhost for me"',
'WWW-Authenticate: Bearer realm="say \"hi\" \\\\ bye"',
'WWW-Authenticate: Bearer realm="say \"hi\" \\\\ bye", error="invalid_token"',
]
--- response_body_like eval
["401 Authorization Required", "401 Authorization Required", "401 Authorization Required"]



=== TEST 10: token=$arg_token: the query argument is used and the Authorization header ignored
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test" token=$arg_token;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t?x=1&token=eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q", "GET /t?x=1", "GET /t?token=eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMDAwMDAwMDAsInN1YiI6ImFsaWNlIn0.Gr1cr_N1WMSwVg8F_qeu-Ff_cOshNYaVn2OTqWuVLmvRq_wsLZLRwlsRMg2BjKTlANlbvoIJGNad1xlNnyMCaOyP0RKiJipIohUR5sMKWVYXVjSrbUopHtMBPfwJS7IDGlE3t3O_-F9Ep2M-PCA_ztLr9mox-icMYSMgCG7ssRedYaoClqddXWxsXqeIfTqG-hyMHXfqNzTKhV-FXEQPZmujTSTdC-f6zQM-zutZ8UtZnFDj7HE1Bt3olyF_O_MrozW7zQdPZoncZ88bbQhxMPUE4MpuvpePYGiPRtyeGgwJsKPnDNfTvg_kH2__s2QyjJbIw3X2XA7oitJ_sGm2Aw"]
--- more_headers eval
["", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q", ""]
--- error_code eval
[200, 401, 401]
--- response_headers eval
["!WWW-Authenticate", 'WWW-Authenticate: Bearer realm="test"', 'WWW-Authenticate: Bearer realm="test", error="invalid_token"']
--- response_body_like eval
["^sub=alice\n\\z", "401 Authorization Required", "401 Authorization Required"]
--- no_error_log
[error]
--- no_error_log
eyJ



=== TEST 11: token=$cookie_jwt and token=$http_x_token
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /c {
        auth_jwt "cookie" token=$cookie_jwt;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /h {
        auth_jwt "header" token=$http_x_token;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /c", "GET /c", "GET /h", "GET /h"]
--- more_headers eval
[
"Cookie: theme=dark; jwt=eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q; lang=en",
"Cookie: theme=dark\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"X-Token: eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhZG1pbiJ9.MxTTUorOGbSs55YMrP2HOUpNOKHtJIYwoyO9UB4--lri5MSBxB75E2XD3ss8h5Y8JJr-M5HjGcQp0r-suWvm9SP3DNqkk4KcEpifu5ajzQz94neds3D0e-qUgnx-RRNSoRYi2h3rWmOErXoI8NLvCv-fxd1iUtQPSOn1Z4FOwaeE5WAFmOnezQBXORg90oQdw1_hvpZE4R1-8wWQAcMGEdqqphjyK9Mb0HkkQ13GU4-Dxy7GsbzBTSKUUpuFaVmaiorcLPrNQJ8tBwI5iUFjvdwPI7QD1F8cP_qbQgQb9apKUrr9EKQxGdytzqMCjF4iOzVcPP0BdU_46xZAigNF2Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
]
--- error_code eval
[200, 401, 200, 401]
--- response_headers eval
["!WWW-Authenticate", 'WWW-Authenticate: Bearer realm="cookie"', "!WWW-Authenticate", 'WWW-Authenticate: Bearer realm="header"']
--- response_body_like eval
["^sub=alice\n\\z", "401 Authorization Required", "^sub=admin\n\\z", "401 Authorization Required"]



=== TEST 12: the seed's error_page 498 401 /401.html turns every refusal into its JSON body
--- config
    location /echo {
        return 200 "user=$http_x_user_id\n";
    }
    location /app/ {
        auth_jwt "closed site";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-User-ID $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /login {
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }

    error_page 498 401 /401.html;
    location = /401.html {
        return 401 '{"error": "Invalid or missing token"}';
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /app/chat", "GET /app/chat", "GET /app/chat", "GET /login"]
--- more_headers eval
["", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMDAwMDAwMDAsInN1YiI6ImFsaWNlIn0.Gr1cr_N1WMSwVg8F_qeu-Ff_cOshNYaVn2OTqWuVLmvRq_wsLZLRwlsRMg2BjKTlANlbvoIJGNad1xlNnyMCaOyP0RKiJipIohUR5sMKWVYXVjSrbUopHtMBPfwJS7IDGlE3t3O_-F9Ep2M-PCA_ztLr9mox-icMYSMgCG7ssRedYaoClqddXWxsXqeIfTqG-hyMHXfqNzTKhV-FXEQPZmujTSTdC-f6zQM-zutZ8UtZnFDj7HE1Bt3olyF_O_MrozW7zQdPZoncZ88bbQhxMPUE4MpuvpePYGiPRtyeGgwJsKPnDNfTvg_kH2__s2QyjJbIw3X2XA7oitJ_sGm2Aw", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q", ""]
--- error_code eval
[401, 401, 200, 200]
--- response_headers eval
[
'WWW-Authenticate: Bearer realm="closed site"',
'WWW-Authenticate: Bearer realm="closed site", error="invalid_token"',
"!WWW-Authenticate",
"!WWW-Authenticate",
]
--- response_body eval
['{"error": "Invalid or missing token"}', '{"error": "Invalid or missing token"}', "user=alice\n", "user=\n"]
--- no_error_log
[error]



=== TEST 13: error_page 401 = @named (e.g. a redirect to a login page)
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @login;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location @login {
        return 302 http://login.example/?from=$uri;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t/page", "GET /t/page", "GET /t/page"]
--- more_headers eval
["", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhZG1pbiJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q"]
--- error_code eval
[302, 302, 200]
--- response_headers eval
["Location: http://login.example/?from=/t/page", "Location: http://login.example/?from=/t/page", "!Location"]
--- response_body_like eval
["302 Found", "302 Found", "^sub=alice\n\\z"]
--- no_error_log
[error]



=== TEST 14: satisfy any: an allowed address needs no token and gets no challenge; otherwise the token decides
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /lan {
        satisfy any;
        allow 127.0.0.1;
        deny all;
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /wan {
        satisfy any;
        deny all;
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /lan", "GET /lan", "GET /wan", "GET /wan", "GET /wan"]
--- more_headers eval
["", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMDAwMDAwMDAsInN1YiI6ImFsaWNlIn0.Gr1cr_N1WMSwVg8F_qeu-Ff_cOshNYaVn2OTqWuVLmvRq_wsLZLRwlsRMg2BjKTlANlbvoIJGNad1xlNnyMCaOyP0RKiJipIohUR5sMKWVYXVjSrbUopHtMBPfwJS7IDGlE3t3O_-F9Ep2M-PCA_ztLr9mox-icMYSMgCG7ssRedYaoClqddXWxsXqeIfTqG-hyMHXfqNzTKhV-FXEQPZmujTSTdC-f6zQM-zutZ8UtZnFDj7HE1Bt3olyF_O_MrozW7zQdPZoncZ88bbQhxMPUE4MpuvpePYGiPRtyeGgwJsKPnDNfTvg_kH2__s2QyjJbIw3X2XA7oitJ_sGm2Aw", "", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMDAwMDAwMDAsInN1YiI6ImFsaWNlIn0.Gr1cr_N1WMSwVg8F_qeu-Ff_cOshNYaVn2OTqWuVLmvRq_wsLZLRwlsRMg2BjKTlANlbvoIJGNad1xlNnyMCaOyP0RKiJipIohUR5sMKWVYXVjSrbUopHtMBPfwJS7IDGlE3t3O_-F9Ep2M-PCA_ztLr9mox-icMYSMgCG7ssRedYaoClqddXWxsXqeIfTqG-hyMHXfqNzTKhV-FXEQPZmujTSTdC-f6zQM-zutZ8UtZnFDj7HE1Bt3olyF_O_MrozW7zQdPZoncZ88bbQhxMPUE4MpuvpePYGiPRtyeGgwJsKPnDNfTvg_kH2__s2QyjJbIw3X2XA7oitJ_sGm2Aw"]
--- error_code eval
[200, 200, 401, 200, 401]
--- response_headers eval
["!WWW-Authenticate", "!WWW-Authenticate", 'WWW-Authenticate: Bearer realm="test"', "!WWW-Authenticate",
 'WWW-Authenticate: Bearer realm="test", error="invalid_token"']
--- response_body_like eval
["^sub=\n\\z", "^sub=\n\\z", "401 Authorization Required", "^sub=alice\n\\z", "401 Authorization Required"]



=== TEST 15: satisfy all: a valid token does not override "deny all"
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        satisfy all;
        deny all;
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q
--- request
GET /t
--- error_code: 403
--- response_headers
!WWW-Authenticate
--- response_body_like: 403 Forbidden
--- error_log
access forbidden by rule



=== TEST 16: auth_basic and auth_jwt (token in ?token=) under satisfy all and satisfy any
--- config
    location /echo {
        return 200 "user=$http_x_user sub=$http_x_sub\n";
    }
    location /all {
        satisfy all;
        auth_basic "basic";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        auth_jwt "jwt" token=$arg_token;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-User $remote_user;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /any {
        satisfy any;
        auth_basic "basic";
        auth_basic_user_file $TEST_NGINX_HTML_DIR/htpasswd;
        auth_jwt "jwt" token=$arg_token;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-User $remote_user;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
[ @{ main::key_files("rsa.pub") }, [ "htpasswd", "carol:{PLAIN}secret\n" ] ]
--- request eval
[
"GET /all?token=eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"GET /all?token=eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"GET /all",
"GET /any?token=eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"GET /any",
"GET /any",
]
--- more_headers eval
[
"Authorization: Basic Y2Fyb2w6c2VjcmV0",
"",
"Authorization: Basic Y2Fyb2w6c2VjcmV0",
"",
"Authorization: Basic Y2Fyb2w6c2VjcmV0",
"",
]
--- error_code eval
[200, 401, 401, 200, 200, 401]
--- response_headers eval
[
"!WWW-Authenticate",
'WWW-Authenticate: Basic realm="basic"',
'WWW-Authenticate: Bearer realm="jwt"',
"!WWW-Authenticate",
"!WWW-Authenticate",
'WWW-Authenticate: Bearer realm="jwt", Basic realm="basic"',
]
--- response_body_like eval
["^user=carol sub=alice\n\\z", "401 Authorization Required", "401 Authorization Required",
 "^user= sub=alice\n\\z", "^user=carol sub=\n\\z", "401 Authorization Required"]



=== TEST 17: auth_jwt twice at one level is a duplicate
--- config
    location /t {
        auth_jwt "one";
        auth_jwt "two";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*"auth_jwt" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 18: token= must name a variable
--- config
    location /t {
        auth_jwt "test" token=abc;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt: "token=abc" must contain a variable, e\.g\. token=\$http_x_token, token=\$cookie_jwt or token=\$arg_token in \S+nginx\.conf:\d+/



=== TEST 19: the second parameter must be token=$variable
--- config
    location /t {
        auth_jwt "test" $arg_token;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt: invalid parameter "\$arg_token": expected "token=\$variable" in \S+nginx\.conf:\d+/



=== TEST 20: auth_jwt on without any auth_jwt_key_file in scope fails at startup
--- config
    location /t {
        auth_jwt "test";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt: "auth_jwt" is on but no "auth_jwt_key_file" or "auth_jwt_key_request" is in scope; add one at the same or an enclosing level in \S+nginx\.conf:\d+/
