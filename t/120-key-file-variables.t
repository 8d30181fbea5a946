# auth_jwt_key_file with variables in the file name (NGINX Plus): the name is resolved per
# request, and each worker parses a given file once (re-read when it changes).
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), key_files(): the keys of t/keys, read at run time

# html/keys/: files of t/keys under the names the blocks use, and a broken one.
add_files(
    'keys/tenant-a.pem' => key('rsa.pub'),
    'keys/tenant-b.pem' => key('rsa2.pub'),
    'keys/ec256.pub'    => key('ec256.pub'),
    'keys/broken.pem'   => "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n",
);

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: the key file is chosen per request from a header
--- config
    location /t {
        auth_jwt "tenant";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys/tenant-$http_x_tenant.pem;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok sub=$jwt_claim_sub\n";
    }
    error_page 401 500 = @denied;
    location @denied {
        return 403 "denied status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("keys/tenant-a.pem", "keys/tenant-b.pem")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["X-Tenant: a\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g",
 "X-Tenant: b\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDB9.kCSyquNyePkBin83QpWbbE7IoJDFYvJBdSnwOYeu9sFw9PVnCZYbMT4uEP1kYjWTp5h7pO7hXlYzJmRbAFB6qmelyTAiwsTzfVYg3I6nqTgECBx_OnXbm1iAjxeXeBdjdcq0BEQZr4b_M-dZxla_juHcpjrY5moSrWxR81rGMN1TKFwMZSQ-qZRRg1I0TgGJfu7HAVX425GMCTkPxF7PLx4T3PpgL100v-8v2CjXw1x7Rc33oAT1TF-WUgg7YBxcI__9FWmolhYhiaPcE4AJ_f7dAHSnN8fvT0kSf2ZZp7q7tulr0OP4yWNgKQLMdZRpTSkrtlsZBqiuyyCf3RZF1g",
 "X-Tenant: b\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g",
 "X-Tenant: a\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g",
 "X-Tenant: a\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJleHAiOjQxMDI0NDQ4MDB9.kCSyquNyePkBin83QpWbbE7IoJDFYvJBdSnwOYeu9sFw9PVnCZYbMT4uEP1kYjWTp5h7pO7hXlYzJmRbAFB6qmelyTAiwsTzfVYg3I6nqTgECBx_OnXbm1iAjxeXeBdjdcq0BEQZr4b_M-dZxla_juHcpjrY5moSrWxR81rGMN1TKFwMZSQ-qZRRg1I0TgGJfu7HAVX425GMCTkPxF7PLx4T3PpgL100v-8v2CjXw1x7Rc33oAT1TF-WUgg7YBxcI__9FWmolhYhiaPcE4AJ_f7dAHSnN8fvT0kSf2ZZp7q7tulr0OP4yWNgKQLMdZRpTSkrtlsZBqiuyyCf3RZF1g"]
--- error_code eval
[200, 200, 403, 200, 403]
--- response_body eval
["ok sub=alice\n", "ok sub=bob\n", "denied status=bad_signature\n", "ok sub=alice\n", "denied status=bad_signature\n"]



=== TEST 2: a file that does not exist or does not parse: 500 and an error line, never a pass
--- config
    location /t {
        auth_jwt "tenant";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys/$http_x_tenant.pem;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok\n";
    }
--- user_files eval
main::key_files("keys/broken.pem")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["X-Tenant: nobody\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g", "X-Tenant: broken\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g"]
--- error_code eval
[500, 500]
--- error_log eval
qr/\[error\] .*auth_jwt: auth_jwt_key_file: "\S+\/keys\/(nobody|broken)\.pem": .* \(error\)/



=== TEST 3: fixed and variable key files at one level are all candidates
--- config
    location /t {
        auth_jwt "mixed";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys/ec256.pub;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/keys/tenant-$http_x_tenant.pem;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("keys/ec256.pub", "keys/tenant-a.pem")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["X-Tenant: a\nAuthorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYXJvbCIsImV4cCI6NDEwMjQ0NDgwMH0.MS_-cDVyYmi12fuP3WRwUpeV0FQjtOHVM-hANUis3Sj7HGJ_36zhGQ59Xx_iQdSxdNIYDDLJOf6dvV1QwKAMIw", "X-Tenant: a\nAuthorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g"]
--- response_body eval
["ok sub=carol\n", "ok sub=alice\n"]



=== TEST 4: a relative name with variables is resolved against the configuration prefix
--- config
    location /t {
        auth_jwt "rel";
        auth_jwt_key_file ../html/keys/tenant-$http_x_tenant.pem;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("keys/tenant-a.pem")
--- more_headers
X-Tenant: a
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.WDa3L8iUEWSTlm8VjzHMmQpsJa-sk_D4okdYSPXdGFAQLZxiJqntsL2LucxNUR9Ha6HbvNKQV54-i0VAIMIKiMmaleeNPuurpNj_Q5V1zs8aEmWAETD0qPb0qufarBkPft2EvH7zJv1IHT8VqMZoYRxsQxYCkADxD9YQdijWP4zCpbrTzKO64RzMoAx_dH0pxV9G8rXLUpQa3Rtf0XNlLV9wf5buqvGYW55xqgQOmfxuWlbwYkcTzvVQpGHbQnSv-pj_NZ3i_7eCAKt7h228k_1EJGfDksMguo8lBzIxtM4k5MZr154CwaZ1c9aGDEvhj5oGvppOsleSe3eNDjr97g
--- request
GET /t
--- response_body
ok sub=alice
