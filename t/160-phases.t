# Claims in every phase: directives of other modules read the module's variables before the
# access phase (limit_req and limit_conn in preaccess; if, set, return and map in the rewrite
# phases). The token is then checked right there, once per request, and the access handler
# reuses that verdict. Also: the token and key-request URIs are read once per request (a key
# subrequest runs the server's rewrite phase again), an evaluated realm never injects a
# header, and auth_jwt_require values must start with a variable.
#
# Tokens (t/keys, core's jwt-mint; exp 4102444800 is 2100-01-01):
#   alice, bob, carol: signed with keys/rsa.key (role admin, user, admin)
#   forged: sub carol, role admin, signed with keys/rsa2.key (bad signature for rsa.pub)
#   expired: sub dave, signed with keys/rsa.key, exp 1000000000
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), key_files(): the keys of t/keys, read at run time

our %T = (
    alice   => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsInJvbGUiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.n_coGtNFUWAi2nScDiI7Hjkf9mhxxtKJiBFsFi6sY1Buys4lEHVtf3NxDLf0GkDX1VSD8prwpi9PxaC6K-KuU7ZeCLhEMh2vwkVXJohxNEPTvC6OaMoXH_LlXLFdj40u3SXdemDjpbWTI3mV-tYwrgTfEMA8n3TY8tt_YnBEVHXcGJkf3iUwK5vjcEAbpsPDjzChb1I4q8LmvL1VHWVTtvLhMxAIJDAtSjRQwtY8ohD5twy0iiFGaPMH5t5qs6MG2VLniDD2iCLoU_b6Twp2hDSZwf5LRySmPcIiyrv669ph6oiB-SvtvsUDVl15iKSCzcvvbVn2Dz7-G7b2QJ_WvQ',
    bob     => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJyb2xlIjoidXNlciIsImV4cCI6NDEwMjQ0NDgwMH0.SpiKG-I3L4Q-rdzIPeJapqZkbpXhGxeV8Cc7AbGzJrX_koW0axAdkznDN9Hz68FriXYSCi8u_f_hTP_TOK6EOXWOyDlFoK-5JHdmv4SP0Yrz0AV29RdaoPIlkgH2NVrlDT0Hdmib3FAMRxXINN6ojRo5Efsd-UguxeXNAIzg70Fj9cic5MupCrONN6Kw9MdQSlExO9oTIYhG0lNoQmvEqdFXVDzF65NpEKLunl4CPbJfqwbtWq3ojfPXz4wpYf_0HTIAw6VdxlHjy8JK6576d4qrxKEGki71AQAaNtjmwt90aNqqi7Ap3FpqpHBboiC4vGWGXEQ-_J-hw2dy1e-x3A',
    carol   => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYXJvbCIsInJvbGUiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.NOAmDdvssePveHhIzlRoYRCXw7Ttyny03mc46D3iYhc2STP-qV09GT4xgNy8PaR-F38_EzLyDmKl10paLfCTILNcMU6qUHnNNXerHi7nbKvsKeEH4ZkmnYuvSFXcYpDk-zkCVBGCFYQQ_gtvaJ4QRThHZ_KAc4HNBFQofSPvvvV9nJcOVvkPcFBTMeGRLQ_CdSKfD8jvsfwaV_K9NWlWgEM5h0WQAL2AurE-1KFfRKY5IgtZgj03pS4bByvgi1zg_wB0R1P0DGormv5dTWmQhlcM5FuVQz-lya-TU5NC6f2ennD4aLIyucokzfRLoncnZ2uxuHZaioIr4e6p9svkaQ',
    forged  => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYXJvbCIsInJvbGUiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.pz5ueynbQ5DLeD-9yyJgmUGsAhsZODyD9ywKWQB_KbDTJVfNMkrNhjcJfJo69sykwlW9QoL0pWM_TWE-CrNsao1IcU4585xxvE030rlKY_R30z9JxmEEIe5NwAD5Mxpc7__GSvHeRGnBk7mzsBZr4AbYru6ozF_4m0ukfQatOpbAS5eDe_6TOdDwHuc2Lfbsde-Pj76BFQ9K8sg2neGkeC9D1XiBQeV32am-pwCPVe5-HRcEG7plr3UxnM-IKAUBd5PIjkfr8j5F5yWuCQRJxwgQo-IXYzIEGs_e1V1nRLIyVddr21YyDzK27NRKBjqPpA7Ur95I8Bnr48dRMc9Zsw',
    expired => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkYXZlIiwiZXhwIjoxMDAwMDAwMDAwfQ.B2oxlqs06UorjVZ1LQl57tgfaCmyC9hs3fuMycWPiWQ-IeKRk43eST8T3PAS521YTkC3HqGAtvT48ZRn58h5iHVkV3zCJ6r7XPnHJG6BDHHskR7NcAK4ub7PCvmPk4rJr2i3rDrGlHnOU7qvTBlf-TCHZ9CfDIgIcFZ3yFUY8WT6JK1WFzye72m2YNBsmbIdQ73gDhiP7Oto7KhXu0Or2dPwE6YrZSktEEYPnXImJS-RLd6HxqXo37JhIKg7EiUnWgF7srY3hUY1aIYWebFb0CMj8y0MfvYx14Ev_BpcMmDGacvl-2yJdgObcBh33Ln6v1i-Ttz7zJkf5lsw76DQog',
);
sub bearer { return "Authorization: Bearer $T{$_[0]}" }

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: limit_req keyed by $jwt_claim_sub (the NGINX Plus recipe): one user is limited, another is not, a refused token counts against nobody
--- http_config
    limit_req_zone $jwt_claim_sub zone=peruser:1m rate=1r/m;
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        limit_req zone=peruser;
        limit_req_log_level warn;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::bearer("alice"), main::bearer("alice"), main::bearer("bob"), main::bearer("forged"), main::bearer("carol"), ""]
--- error_code eval
[200, 503, 200, 401, 200, 401]
--- response_body_like eval
["sub=alice", "503", "sub=bob", "401", "sub=carol", "401"]
--- no_error_log
[error]



=== TEST 2: limit_conn keyed by $jwt_claim_sub: a second connection of the same user is refused, another user's is not
--- http_config
    limit_conn_zone $jwt_claim_sub zone=conns:1m;
--- config
    location /outer {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        limit_conn conns 1;
        limit_conn_log_level warn;
        # A second connection while this one is open: to /inner, with the token of X-Inner.
        proxy_set_header Authorization $http_x_inner;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/inner;
    }
    location /inner {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        limit_conn conns 1;
        limit_conn_log_level warn;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "inner sub=$jwt_claim_sub conn=$limit_conn_status\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /outer", "GET /outer", "GET /outer"]
--- more_headers eval
[
main::bearer("alice") . "\nX-Inner: Bearer $main::T{bob}",
main::bearer("alice") . "\nX-Inner: Bearer $main::T{alice}",
main::bearer("forged") . "\nX-Inner: Bearer $main::T{carol}",
]
--- error_code eval
[200, 503, 401]
--- response_body_like eval
["inner sub=bob conn=PASSED", "503", "401"]
--- no_error_log
[error]



=== TEST 3: if ($jwt_claim_role != "admin") { return 403; } in a location
--- config
    location /admin {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        if ($jwt_claim_role != "admin") {
            return 403 "not an admin: status=$auth_jwt_status\n";
        }
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "admin sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /admin", "GET /admin", "GET /admin", "GET /admin"]
--- more_headers eval
[main::bearer("alice"), main::bearer("bob"), main::bearer("expired"), ""]
--- error_code eval
[200, 403, 403, 403]
--- response_body eval
["admin sub=alice\n", "not an admin: status=valid\n", "not an admin: status=expired\n", "not an admin: status=missing\n"]
--- no_error_log
[error]



=== TEST 4: if ($jwt_claim_role != "admin") at server level, auth_jwt at server level
--- config
    auth_jwt "api";
    auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    auth_jwt_cache zone=jwt_srv:1m;
    if ($jwt_claim_role != "admin") {
        return 403 "not an admin\n";
    }
    location /t {
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub cache=$auth_jwt_cache_status\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::bearer("alice"), main::bearer("alice"), main::bearer("bob"), main::bearer("forged")]
--- error_code eval
[200, 200, 403, 403]
--- response_body eval
["sub=alice cache=MISS\n", "sub=alice cache=HIT\n", "not an admin\n", "not an admin\n"]
--- no_error_log
[error]



=== TEST 5: a map over a claim, used by return (rewrite phase, before the access check)
--- http_config
    map $jwt_claim_sub $greeting {
        alice    "hello alice";
        default  "hello stranger";
    }
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        return 200 "$greeting ($auth_jwt_status)\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::bearer("alice"), main::bearer("bob"), main::bearer("forged")]
--- response_body eval
["hello alice (valid)\n", "hello stranger (valid)\n", "hello stranger (bad_signature)\n"]
--- no_error_log
[error]



=== TEST 6: error_page 401 after a check made in preaccess: the error page sees the verdict; one info line per refused request
--- http_config
    limit_req_zone $jwt_claim_sub zone=lenient:1m rate=100r/s;
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        limit_req zone=lenient burst=10 nodelay;
        error_page 401 = @denied;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
    location @denied {
        return 401 "status=$auth_jwt_status sub=[$jwt_claim_sub]\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request
GET /t
--- more_headers eval
main::bearer("forged")
--- error_code: 401
--- response_body
status=bad_signature sub=[]
--- grep_error_log eval
qr/auth_jwt: [^,]*/
--- grep_error_log_out
auth_jwt: signature verification failed (bad_signature)
--- no_error_log
[error]



=== TEST 7: once per request: a variable read in the rewrite phase and the access phase make one check (the first request is a cache MISS, not a HIT of its own earlier check)
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_cache zone=jwt_once:1m;
        set $early $jwt_claim_sub;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "early=$early late=$jwt_claim_sub cache=$auth_jwt_cache_status\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::bearer("alice"), main::bearer("alice"), main::bearer("bob")]
--- response_body eval
["early=alice late=alice cache=MISS\n", "early=alice late=alice cache=HIT\n", "early=bob late=bob cache=MISS\n"]
--- no_error_log
[error]



=== TEST 8: once per request through an if block: the access handler of the if block reuses the verdict made for its location
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_cache zone=jwt_if:1m;
        if ($jwt_claim_role = "admin") {
            set $admin yes;
        }
        proxy_set_header X-Seen "admin=$admin sub=$jwt_claim_sub cache=$auth_jwt_cache_status";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /echo {
        return 200 "$http_x_seen\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::bearer("alice"), main::bearer("alice"), main::bearer("bob")]
--- response_body eval
["admin=yes sub=alice cache=MISS\n", "admin=yes sub=alice cache=HIT\n", "admin= sub=bob cache=MISS\n"]
--- no_error_log
[error]



=== TEST 9: read at server level without auth_jwt there, a variable is empty; the location checks the token
--- config
    set $early "[$jwt_claim_sub]";
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "early=$early late=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request
GET /t
--- more_headers eval
main::bearer("alice")
--- response_body
early=[] late=alice
--- no_error_log
[error]



=== TEST 10: a verdict belongs to its configuration: a location with other keys checks the token again
--- config
    auth_jwt "api";
    auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    set $early "[$jwt_claim_sub]";
    location /other {
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.pub;
        error_page 401 = @denied;
        try_files /no-such-file @ok;
    }
    location /same {
        error_page 401 = @denied;
        try_files /no-such-file @ok;
    }
    location @ok {
        auth_jwt off;
        return 200 "early=$early late=$jwt_claim_sub\n";
    }
    location @denied {
        auth_jwt off;
        return 401 "early=$early status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.pub", "rsa2.pub")
--- request eval
["GET /other", "GET /same", "GET /other"]
--- more_headers eval
[main::bearer("alice"), main::bearer("alice"), main::bearer("forged")]
--- error_code eval
[401, 200, 200]
--- response_body eval
["early=[alice] status=bad_signature\n", "early=[alice] late=alice\n", "early=[] late=carol\n"]
--- no_error_log
[error]



=== TEST 11: auth_jwt_key_request: a variable read before the access phase uses the keys the worker holds, else stays empty until the access phase
--- http_config
    limit_req_zone $jwt_claim_sub zone=kr:1m rate=1r/m;
--- config
    location /t {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        auth_jwt_key_cache 1h;
        limit_req zone=kr;
        limit_req_log_level warn;
        try_files /no-such-file @ok;
    }
    location /nocache {
        auth_jwt "kr";
        auth_jwt_key_request /_jwks;
        limit_req zone=kr;
        limit_req_log_level warn;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /nocache", "GET /nocache"]
--- more_headers eval
[main::bearer("alice"), main::bearer("alice"), main::bearer("alice"), main::bearer("bob"), main::bearer("bob")]
--- error_code eval
[200, 200, 503, 200, 200]
--- no_error_log
[error]



=== TEST 12: set at server level and in the location with auth_jwt_key_request: the location's URI is used throughout
--- config
    set $jwks /a.jwks;
    location /t {
        set $jwks /b.jwks;
        auth_jwt "kr";
        auth_jwt_key_request $jwks;
        try_files /no-such-file @ok;
    }
    location = /a.jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/rsa2.jwk;
    }
    location = /b.jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("rsa.jwk", "rsa2.jwk")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer("alice"), main::bearer("forged")]
--- error_code eval
[200, 401]
--- response_body_like eval
["sub=alice", "401"]
--- no_error_log
[error]



=== TEST 13: set $jwt $arg_token at server level with a key request: the client's token is the one checked
--- config
    set $jwt $arg_token;
    location /t {
        auth_jwt "kr" token=$jwt;
        auth_jwt_key_request /_jwks;
        error_page 401 = @denied;
        try_files /no-such-file @ok;
    }
    location = /_jwks {
        internal;
        alias $TEST_NGINX_HTML_DIR/rsa.jwk;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
    location @denied {
        return 401 "status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.jwk")
--- request eval
["GET /t?token=$main::T{alice}", "GET /t?token=$main::T{forged}", "GET /t"]
--- error_code eval
[200, 401, 401]
--- response_body eval
["sub=alice\n", "status=bad_signature\n", "status=missing\n"]
--- no_error_log
[error]



=== TEST 14: a realm with variables never injects a header: control characters are dropped
--- config
    location /r/ {
        auth_jwt "r $uri";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request
GET /r/%0d%0aSet-Cookie:%20a=b%09x
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="r /r/Set-Cookie: a=bx"
--- raw_response_headers_unlike eval
qr/\r\nSet-Cookie/i
--- no_error_log
[error]



=== TEST 15: auth_jwt_require values must start with a variable
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require "iss";
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_require: "iss" must start with a variable, e\.g\. \$jwt_claim_iss or a map result such as \$iss_ok in \S+nginx\.conf:\d+/
