# auth_jwt_key_request (NGINX Plus): the keys come from a subrequest, e.g. to a location that
# proxy_passes to an IdP's JWKS endpoint; auth_jwt_key_cache keeps them per worker.
# Tokens: alice signed with keys/rsa.key, bob with keys/rsa2.key (no kid), exp 4102444800.
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), key_files(): the keys of t/keys, read at run time

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: keys from a subrequest to a local location; POST requests fetch with GET
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location @ok {
        return 200 "$request_method sub=$jwt_claim_sub status=$auth_jwt_status\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request eval
["GET /t", "POST /t\nhello", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g",
 "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g",
 "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDB9.kCSyquNyePkBin83QpWbbE7IoJDFYvJBdSnwOYeu9sFw9PVnCZYbMT4uEP1kYjWTp5h7pO7hXlYzJmRbAFB6qmelyTAiwsTzfVYg3I6nqTgECBx_OnXbm1iAjxeXeBdjdcq0BEQZr4b_M-dZxla_juHcpjrY5moSrWxR81rGMN1TKFwMZSQ-qZRRg1I0TgGJfu7HAVX425GMCTkPxF7PLx4T3PpgL100v-8v2CjXw1x7Rc33oAT1TF-WUgg7YBxcI__9FWmolhYhiaPcE4AJ_f7dAHSnN8fvT0kSf2ZZp7q7tulr0OP4yWNgKQLMdZRpTSkrtlsZBqiuyyCf3RZF1g",
 ""]
--- error_code eval
[200, 200, 401, 401]
--- response_body eval
["GET sub=alice status=valid\n", "POST sub=alice status=valid\n", "status=bad_signature\n", "status=missing\n"]
--- no_error_log
[error]



=== TEST 2: through proxy_pass as with a real IdP: a GET without the client's body or headers
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/idp/certs;
        proxy_pass_request_headers off;
        subrequest_output_buffer_size 64k;
    }
    location = /idp/certs {
        if ($request_method != GET) {
            return 405;
        }
        if ($http_content_length) {
            return 400;
        }
        if ($http_authorization) {
            return 403;
        }
        default_type application/json;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request eval
["GET /t", "POST /t\nsome body the subrequest must not send"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g"]
--- error_code eval
[200, 200]
--- response_body eval
["sub=alice\n", "sub=alice\n"]



=== TEST 3: several auth_jwt_key_request: every answer's keys are candidates
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks/a;
        auth_jwt_key_request /_jwks/b;
        try_files /no-such-file @ok;
    }
    location /_jwks/ {
        internal;
        alias $TEST_NGINX_HTML_DIR/jwks/;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- user_files eval
[["jwks/a", main::key("rsa.jwk")], ["jwks/b", main::key("rsa2.jwk")]]
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDB9.kCSyquNyePkBin83QpWbbE7IoJDFYvJBdSnwOYeu9sFw9PVnCZYbMT4uEP1kYjWTp5h7pO7hXlYzJmRbAFB6qmelyTAiwsTzfVYg3I6nqTgECBx_OnXbm1iAjxeXeBdjdcq0BEQZr4b_M-dZxla_juHcpjrY5moSrWxR81rGMN1TKFwMZSQ-qZRRg1I0TgGJfu7HAVX425GMCTkPxF7PLx4T3PpgL100v-8v2CjXw1x7Rc33oAT1TF-WUgg7YBxcI__9FWmolhYhiaPcE4AJ_f7dAHSnN8fvT0kSf2ZZp7q7tulr0OP4yWNgKQLMdZRpTSkrtlsZBqiuyyCf3RZF1g"]
--- error_code eval
[200, 200]
--- response_body eval
["sub=alice\n", "sub=bob\n"]



=== TEST 4: a key source that answers an error status: 500 and an error line, never a pass
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        return 404;
    }
    location @ok {
        return 200 "ok\n";
    }
    error_page 500 = @failed;
    location @failed {
        return 500 "status=$auth_jwt_status\n";
    }
--- request
GET /t
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g
--- error_code: 500
--- response_body
status=error
--- error_log eval
qr/\[error\] .*auth_jwt: auth_jwt_key_request: "\/_jwks": answered with status 404, expected 200 \(error\), client: 127\.0\.0\.1, request: "GET \/t"/



=== TEST 5: a key source that answers something that is not a key: 500 and an error line
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        return 200 "<html>login page</html>";
    }
    location @ok {
        return 200 "ok\n";
    }
--- request
GET /t
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g
--- error_code: 500
--- error_log eval
qr/\[error\] .*auth_jwt: auth_jwt_key_request: "\/_jwks": no key found: expected JWKS, JWK or PEM/



=== TEST 6: a location that does not exist, or an unreachable IdP: 500
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_nowhere;
        try_files /no-such-file @ok;
    }
    location /u {
        auth_jwt "kr";
        auth_jwt_key_request /_down;
        try_files /no-such-file @ok;
    }
    location = /_down {
        internal;
        proxy_pass http://127.0.0.1:1/keys;
    }
    location @ok {
        return 200 "ok\n";
    }
--- request eval
["GET /t", "GET /u"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g"]
--- error_code eval
[500, 500]
--- error_log eval
qr/\[error\] .*auth_jwt: auth_jwt_key_request: "\/_(nowhere|down)": answered with status (404|502), expected 200 \(error\)/



=== TEST 7: key_cache 0 (the default) fetches for every request; a cache time fetches once
--- config
    location /nocache {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location /cached {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        auth_jwt_key_cache 1h;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        log_subrequest on;
        access_log $TEST_NGINX_HTML_DIR/fetches.log;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location = /fetches {
        default_type text/plain;
        alias $TEST_NGINX_HTML_DIR/fetches.log;
    }
    location @ok {
        return 200 "ok\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request eval
["GET /nocache", "GET /nocache", "GET /nocache", "GET /fetches", "GET /cached", "GET /cached", "GET /cached", "GET /cached", "GET /fetches"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "",
 "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDB9.kCSyquNyePkBin83QpWbbE7IoJDFYvJBdSnwOYeu9sFw9PVnCZYbMT4uEP1kYjWTp5h7pO7hXlYzJmRbAFB6qmelyTAiwsTzfVYg3I6nqTgECBx_OnXbm1iAjxeXeBdjdcq0BEQZr4b_M-dZxla_juHcpjrY5moSrWxR81rGMN1TKFwMZSQ-qZRRg1I0TgGJfu7HAVX425GMCTkPxF7PLx4T3PpgL100v-8v2CjXw1x7Rc33oAT1TF-WUgg7YBxcI__9FWmolhYhiaPcE4AJ_f7dAHSnN8fvT0kSf2ZZp7q7tulr0OP4yWNgKQLMdZRpTSkrtlsZBqiuyyCf3RZF1g", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", ""]
--- error_code eval
[200, 200, 200, 200, 200, 401, 200, 200, 200]
--- response_body_like eval
["ok", "ok", "ok", qr/\A(?:[^\n]+\n){3}\z/, "ok", "", "ok", "ok", qr/\A(?:[^\n]+\n){4}\z/]



=== TEST 8: fixed key files and key requests of one location are both used
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/rsa2.jwk;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("rsa.pub", "rsa2.jwk")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDB9.kCSyquNyePkBin83QpWbbE7IoJDFYvJBdSnwOYeu9sFw9PVnCZYbMT4uEP1kYjWTp5h7pO7hXlYzJmRbAFB6qmelyTAiwsTzfVYg3I6nqTgECBx_OnXbm1iAjxeXeBdjdcq0BEQZr4b_M-dZxla_juHcpjrY5moSrWxR81rGMN1TKFwMZSQ-qZRRg1I0TgGJfu7HAVX425GMCTkPxF7PLx4T3PpgL100v-8v2CjXw1x7Rc33oAT1TF-WUgg7YBxcI__9FWmolhYhiaPcE4AJ_f7dAHSnN8fvT0kSf2ZZp7q7tulr0OP4yWNgKQLMdZRpTSkrtlsZBqiuyyCf3RZF1g"]
--- error_code eval
[200, 200]
--- response_body eval
["sub=alice\n", "sub=bob\n"]



=== TEST 9: inherited from the server level; a location may turn auth_jwt off
--- config
    auth_jwt "kr";
    auth_jwt_key_request /_jwks;
    location /t {
        try_files /no-such-file @ok;
    }
    location /public {
        auth_jwt off;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location @ok {
        return 200 "ok\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request eval
["GET /t", "GET /t", "GET /public"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "", ""]
--- error_code eval
[200, 401, 200]



=== TEST 10: a URI that is not local stops nginx
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request https://idp.example.com/certs;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_request: "https:\/\/idp\.example\.com\/certs" is not a local URI: name a location of this server, e\.g\. \/jwks that proxy_passes to the key endpoint in \S+nginx\.conf:\d+/



=== TEST 11: key files with variables and key requests cannot be combined in one location
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/$http_x_tenant.jwk;
        auth_jwt_key_request /_jwks;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt: "auth_jwt_key_file" with variables and "auth_jwt_key_request" cannot be combined for one location/



=== TEST 12: an invalid auth_jwt_key_cache time stops nginx
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        auth_jwt_key_cache forever;
    }
--- must_die
--- error_log eval
qr/\[emerg\] .*"auth_jwt_key_cache" directive invalid value in \S+nginx\.conf:\d+/



=== TEST 13: encrypted tokens with the decryption key from a key request
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_type encrypted;
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        return 200 '{"keys":[{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]}';
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- request
GET /t
--- more_headers
Authorization: Bearer eyJhbGciOiJBMjU2S1ciLCJlbmMiOiJBMjU2R0NNIn0.Sxi39jyx6uXLTOrBSxDaw1t7piNqqc11p0RgKXTrPYPXw5AaY4Q3KQ.mJWy9qIsD_yccQTF.qHVZvxb-qfBSvdxhzNYBReXxad-UiH5wMPVRhW_aAw.8FQoXXCbu26d-7SXnIZN3w
--- error_code: 200
--- response_body
sub=dave



=== TEST 14: an answer larger than subrequest_output_buffer_size: nginx closes the connection (never a pass)
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        subrequest_output_buffer_size 128;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location @ok {
        return 200 "ok\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request
GET /t
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g
--- ignore_response
--- error_log eval
qr/\[error\] .*too big subrequest response: \d+ .*subrequest: "\/_jwks"/
--- no_error_log
[alert]



=== TEST 15: requests without a token make no key subrequest
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        log_subrequest on;
        access_log $TEST_NGINX_HTML_DIR/fetches.log;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location = /fetches {
        default_type text/plain;
        alias $TEST_NGINX_HTML_DIR/fetches.log;
    }
    location @ok {
        return 200 "ok\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /fetches"]
--- more_headers eval
["", "Authorization: Basic Zm9vOmJhcg==", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", ""]
--- error_code eval
[401, 401, 200, 200]
--- response_body_like eval
["", "", "ok", qr/\A[^\n]+\n\z/]



=== TEST 16: a URI from a variable must be local too: 500 otherwise
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request $http_x_keys;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location @ok {
        return 200 "ok\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request
GET /t
--- more_headers eval
"X-Keys: http://evil.example/keys\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g"
--- error_code: 500
--- error_log eval
qr/\[error\] .*auth_jwt: auth_jwt_key_request: "http:\/\/evil\.example\/keys" is not a local URI \(error\)/



=== TEST 17: a URI from a variable naming a local location
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request $http_x_keys;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location @ok {
        return 200 "ok\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request
GET /t
--- more_headers eval
"X-Keys: /_jwks\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g"
--- error_code: 200



=== TEST 18: a failed fetch is failed again after error_page brings the request back (no hang)
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks$http_x_k;
        error_page 500 /t/err;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location @ok {
        return 200 "ok\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request
GET /t
--- more_headers
X-K: /..
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g
--- error_code: 500
--- error_log eval
qr/\[error\] .*auth_jwt: auth_jwt_key_request: "\/_jwks\/\.\.": unsafe URI \(error\)/
--- timeout: 5
