# auth_jwt_revocation_list_sub, _kid and _jti (kjdev/nginx-auth-jwt's directives, and jti):
# a verified token whose sub, kid or jti is listed is refused with 401 and
# $auth_jwt_status "revoked"; lists from files and from local URIs; jti entries with an
# expiry; inheritance and off; nginx -t errors. Lists that change while nginx runs are tested
# in integration/tests/revocation.rs.
#
# Tokens (t/keys/rsa.key, core's jwt-mint, exp 4102444800 = 2100-01-01):
#   alice: kid k1, sub alice, jti j-alice     bob: kid k2, sub bob, jti j-bob
#   carol: no kid, sub carol, jti j-carol     dave: no kid, sub dave, jti j-dave
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

our %T = (
    alice => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsxIn0.eyJzdWIiOiJhbGljZSIsImp0aSI6ImotYWxpY2UiLCJleHAiOjQxMDI0NDQ4MDB9.H2xblFtdu-_eDs8wgot3AtX6_L-7cGuft_qH3BNu-Zwz7z9uu-b2KeACN5XQEpPXynzJ4q5gqU5oeChVKNWyk8ENRKMO1sldfkeEdjPnceq2G582ix0IgynbaXHVdYleGZww7RNVr7iFMpkUDMm0hOvOLe5OPpo6XNObsDBnzU94pET4uVIjgL_Gw3-2TflZBNSGJBgZ4xBfi5Plw0U6bATFMTFSnErg7xAERC0MiSYUcFH0ci15oDFnHsQXGT9uNf_q3vugGzLz96sceO7EGzKKtA3cB1B8UsanzzFrwyszHuFsN8nEf3ptzU4FkrInLK28JkfAlZoFZHA1d37kwA',
    bob   => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6ImsyIn0.eyJzdWIiOiJib2IiLCJqdGkiOiJqLWJvYiIsImV4cCI6NDEwMjQ0NDgwMH0.kfvKEc0jAWv9ozuBrUGu57ewVQxn06eaSaa_gAROTS-85REfzhlWl-v2HYCCtWOBk7Z-DbqyaTG0pBqJ3TrmC1gPeIso_M7_KDMuPvoqItvqQnuvxQ05PnrCHGtBv4LUus26TOjncmwrNEb6pMii1Td9khVsz27PobjbfgGPX7DtuK0fJJGN5zXvkPnPzYR16f7YQbC_gRaUqptQXU9PueQFDaMa8upclxvzZN0kjRkzcA0XMC5_AfL5_yhXE3tKuoHO5mz0l1qi0Pv7ONCWAJIJBvOfeS698ibFA-IWrr0h8rdoHz-IDQFAshIe3v7_RDhFZ5JlCwfPZBIoJstwPQ',
    carol => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYXJvbCIsImp0aSI6ImotY2Fyb2wiLCJleHAiOjQxMDI0NDQ4MDB9.EhMdkJoDtCJXclm8WBdAuTM_WZeDd-qY_geBgK-9M73Br-xtClTQ0VWbG_-_h6qOaaS5Qoxj8UaJhgys64dJ1U7Pn09H8PdZJBFy3v4Ng0nc0yuNd_FAVKszC8AgKW_dh8nmqHizAm8G35KWNNA58J0U_ALjlb844uQxDwV0ZH4Xxa3kaHadubgZ7DcOW-bAQv6y4tudp-ij2i7uhq_6OFIFKCBj3vmGTkJCyIyHifFS3qz6BboyFNgZOw5Wv6SJu_jFweF9v-2caeH5ye2yEHJixrV58WGCVyp0C34kxacBVfQ6MTXIvOGZj5Czqy98JXCrzWgBMHFbYrDG_9f7QA',
    dave  => 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkYXZlIiwianRpIjoiai1kYXZlIiwiZXhwIjo0MTAyNDQ0ODAwfQ.XHqWpC3dVE_FItxsvJVIVzCtKO6D-OU_u8vSTCvhyxCsMzd5BJf7Y4Ognsa93VktAvRisj2pL3jaw3EsggUPrjr1ohSrAWvJdqa2SQOU1PwGguNHuplFIN-GM2U4Az2PRWCNxYiyAeiXLHTxt_juFaWLwkGluIA7DDRW9LYxc_Hx32K-YXsRbq0Kzq3EefU0SD5tkVyfmNMGhoozuawHGGp_7QmGR9BgQdREb_Py9x-tYAdsDZ8VB3KWOVzH48IS_fp7SOyqBQ2qLOCH6_4VVuXtoN88AwrkHpMQ00xt6Hyn26fK1w2T3lx_95RiJKRxbPw-0bFfTWxU4i_p8p5VDA',
);
sub bearer { return "Authorization: Bearer $T{$_[0]}" }

# A list of $n entries: half plain, half with a future exp, and "alice" in the middle.
sub big_list {
    my ($n) = @_;
    my $half = int($n / 2);
    return "{" . join(",", map { sprintf('"user-%07d":1', $_) } 0 .. $half - 1)
         . ',"alice":"revoked",'
         . join(",", map { sprintf('"user-%07d":{"exp":4102444800}', $_) } $half .. $n - 2)
         . "}\n";
}

add_files(
    'revoked-sub.json' => qq({"alice": "2026-11-30 account closed", "mallory": {"reason": "fraud"}}\n),
    'revoked-kid.json' => qq({"k2": true}\n),
    'revoked-jti.json' => qq({"j-carol": {"exp": 4102444800}, "j-dave": {"exp": 1000000000}, "j-bob": null}\n),
    'lists/sub.json'   => qq({"carol": 1}\n),
    'broken.json'      => qq({"alice": \n),
    'array.json'       => qq(["alice"]\n),
);

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a sub list: a listed sub is refused with 401 revoked and one info line naming the list, not the value
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub $TEST_NGINX_HTML_DIR/revoked-sub.json;
        add_header X-Status $auth_jwt_status always;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("rsa.pub", "revoked-sub.json")
--- request
GET /t
--- more_headers eval
main::bearer("alice")
--- error_code: 401
--- response_headers
X-Status: revoked
WWW-Authenticate: Bearer realm="api", error="invalid_token"
--- error_log eval
qr/\[info\] .*auth_jwt: the token's sub is in auth_jwt_revocation_list_sub "\S+revoked-sub\.json" \(revoked\)/
--- no_error_log eval
["[error]", "account closed"]



=== TEST 2: a sub that is not listed passes
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub $TEST_NGINX_HTML_DIR/revoked-sub.json;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.pub", "revoked-sub.json")
--- request
GET /t
--- more_headers eval
main::bearer("bob")
--- response_body
sub=bob status=valid
--- no_error_log
[error]



=== TEST 2b: a kid list and a jti list with expiries: listed kid refused, a jti whose entry expired is not, null means revoked
--- config
    location /kid {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_kid $TEST_NGINX_HTML_DIR/revoked-kid.json;
        error_page 401 = @denied;
        try_files /no-such-file @ok;
    }
    location /jti {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_jti $TEST_NGINX_HTML_DIR/revoked-jti.json;
        error_page 401 = @denied;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok $jwt_claim_sub\n";
    }
    location @denied {
        return 401 "$auth_jwt_status sub=[$jwt_claim_sub]\n";
    }
--- user_files eval
main::key_files("rsa.pub", "revoked-kid.json", "revoked-jti.json")
--- request eval
["GET /kid", "GET /kid", "GET /kid", "GET /jti", "GET /jti", "GET /jti", "GET /jti"]
--- more_headers eval
[main::bearer("alice"), main::bearer("bob"), main::bearer("carol"), main::bearer("alice"), main::bearer("bob"), main::bearer("carol"), main::bearer("dave")]
--- error_code eval
[200, 401, 200, 200, 401, 401, 200]
--- response_body eval
["ok alice\n", "revoked sub=[]\n", "ok carol\n", "ok alice\n", "revoked sub=[]\n", "revoked sub=[]\n", "ok dave\n"]
--- no_error_log
[error]



=== TEST 3: lists are inherited per kind; off cancels one; a location's own list replaces the inherited one
--- config
    auth_jwt "api";
    auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    auth_jwt_revocation_list_sub $TEST_NGINX_HTML_DIR/revoked-sub.json;
    auth_jwt_revocation_list_kid $TEST_NGINX_HTML_DIR/revoked-kid.json;
    location /inherit {
        try_files /no-such-file @ok;
    }
    location /off {
        auth_jwt_revocation_list_sub off;
        try_files /no-such-file @ok;
    }
    location /own {
        auth_jwt_revocation_list_sub $TEST_NGINX_HTML_DIR/lists/sub.json;
        try_files /no-such-file @ok;
    }
    location @ok {
        auth_jwt off;
        return 200 "ok\n";
    }
--- user_files eval
main::key_files("rsa.pub", "revoked-sub.json", "revoked-kid.json", "lists/sub.json")
--- request eval
["GET /inherit", "GET /inherit", "GET /off", "GET /off", "GET /own", "GET /own", "GET /own"]
--- more_headers eval
[main::bearer("alice"), main::bearer("bob"), main::bearer("alice"), main::bearer("bob"), main::bearer("alice"), main::bearer("carol"), main::bearer("bob")]
--- error_code eval
[401, 401, 200, 401, 200, 401, 401]
--- no_error_log
[error]



=== TEST 4: a list fetched from a local URI; a failing source refuses tokens with 500 (fail=closed, the default) or lets them through (fail=open)
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub request=/_revoked/sub.json interval=1m;
        error_page 401 500 = @denied;
        try_files /no-such-file @ok;
    }
    location /closed {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub request=/_revoked/none.json;
        error_page 401 500 = @denied;
        try_files /no-such-file @ok;
    }
    location /open {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub request=/_revoked/none.json fail=open;
        error_page 401 500 = @denied;
        try_files /no-such-file @ok;
    }
    location /_revoked/ {
        internal;
        alias $TEST_NGINX_HTML_DIR/lists/;
    }
    location @ok {
        return 200 "ok $jwt_claim_sub\n";
    }
    location @denied {
        return 403 "$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.pub", "lists/sub.json")
--- request eval
["GET /t", "GET /t", "GET /open", "GET /closed"]
--- more_headers eval
[main::bearer("carol"), main::bearer("alice"), main::bearer("alice"), ""]
--- error_code eval
[403, 200, 200, 403]
--- response_body eval
["revoked\n", "ok alice\n", "ok alice\n", "missing\n"]
--- no_error_log
[crit]



=== TEST 4b: a list source that never answered refuses tokens with 500 and an error line (fail=closed, the default)
--- config
    location /closed {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub request=/_revoked/none.json;
        error_page 500 = @denied;
        try_files /no-such-file @ok;
    }
    location /_revoked/ {
        internal;
        alias $TEST_NGINX_HTML_DIR/lists/;
    }
    location @ok {
        return 200 "ok $jwt_claim_sub\n";
    }
    location @denied {
        return 500 "$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.pub", "lists/sub.json")
--- request
GET /closed
--- more_headers eval
main::bearer("alice")
--- error_code: 500
--- response_body
error
--- error_log
auth_jwt: auth_jwt_revocation_list_sub: "/_revoked/none.json": answered with status 404, expected 200 (error)



=== TEST 5: a missing list file fails nginx -t with the file and the reason
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub $TEST_NGINX_HTML_DIR/nope.json;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_revocation_list_sub: "\S+nope\.json": No such file or directory .* in \S+nginx\.conf:\d+/



=== TEST 6: a broken list file fails nginx -t with the line and column
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_jti $TEST_NGINX_HTML_DIR/broken.json;
    }
--- user_files eval
main::key_files("rsa.pub", "broken.json")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_revocation_list_jti: "\S+broken\.json": invalid JSON at line \d+ column \d+: .* in \S+nginx\.conf:\d+/



=== TEST 7: a list that is not a JSON object fails nginx -t
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_kid $TEST_NGINX_HTML_DIR/array.json;
    }
--- user_files eval
main::key_files("rsa.pub", "array.json")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_revocation_list_kid: "\S+array\.json": not a JSON object in \S+nginx\.conf:\d+/



=== TEST 8: a request= URI must be local; fail= takes open or closed; interval= goes with request=
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub request=http://idp/revoked;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_revocation_list_sub: "http:\/\/idp\/revoked" is not a local URI: name a location of this server, e\.g\. \/revoked\/sub in \S+nginx\.conf:\d+/



=== TEST 9: fail= takes open or closed
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub request=/r fail=maybe;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_revocation_list_sub: invalid "fail=maybe": use open or closed in \S+nginx\.conf:\d+/



=== TEST 10: a second list of the same kind at one level is a duplicate
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub $TEST_NGINX_HTML_DIR/revoked-sub.json;
        auth_jwt_revocation_list_sub $TEST_NGINX_HTML_DIR/lists/sub.json;
    }
--- user_files eval
main::key_files("rsa.pub", "revoked-sub.json", "lists/sub.json")
--- must_die
--- error_log eval
qr/\[emerg\] .*"auth_jwt_revocation_list_sub" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 11: a revoked token read before the access phase: limit_req by sub does not count it, the claims are empty
--- http_config
    limit_req_zone $jwt_claim_sub zone=rl_users:1m rate=1r/m;
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub $TEST_NGINX_HTML_DIR/revoked-sub.json;
        limit_req zone=rl_users;
        limit_req_log_level warn;
        error_page 401 = @denied;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok $jwt_claim_sub\n";
    }
    location @denied {
        return 401 "$auth_jwt_status [$jwt_claim_sub]\n";
    }
--- user_files eval
main::key_files("rsa.pub", "revoked-sub.json")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[main::bearer("alice"), main::bearer("alice"), main::bearer("bob")]
--- error_code eval
[401, 401, 200]
--- response_body eval
["revoked []\n", "revoked []\n", "ok bob\n"]
--- no_error_log
[error]



=== TEST 12: a 1,000,000-entry list (10,000 under valgrind, where the debug build parses it 100 times slower): the listed sub is refused, another passes
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_revocation_list_sub $TEST_NGINX_HTML_DIR/million.json;
        error_page 401 = @denied;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok $jwt_claim_sub\n";
    }
    location @denied {
        return 401 "$auth_jwt_status\n";
    }
--- user_files eval
[@{ main::key_files("rsa.pub") },
 ["million.json", main::big_list($ENV{TEST_NGINX_USE_VALGRIND} ? 10_000 : 1_000_000)]]
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[main::bearer("alice"), main::bearer("bob")]
--- error_code eval
[401, 200]
--- response_body eval
["revoked\n", "ok bob\n"]
--- timeout: 30
--- no_error_log
[error]
