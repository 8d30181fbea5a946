# Self-test of the Test::Nginx::Socket shim (t/lib) using only stock nginx
# features.  Written in the format of openresty's Test::Nginx so it also runs
# under the real module.

use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

repeat_each(1);
no_shuffle();
log_level('info');
run_tests();

__DATA__

=== TEST 1: return with status, body and custom header
--- config
    location = /t {
        add_header X-Foo bar always;
        return 201 "hello, world\n";
    }
--- request
GET /t
--- error_code: 201
--- response_body
hello, world
--- response_headers
X-Foo: bar
Content-Type: text/plain
!X-Not-There
!Location
--- no_error_log
[error]
[warn]



=== TEST 2: more_headers are sent and echoed via $http_x_foo
--- config
    location = /echo {
        return 200 "x-foo=[$http_x_foo] x-bar=[$http_x_bar] host=[$host]\n";
    }
--- more_headers
X-Foo: some value
# comment lines are ignored
X-Bar: 42
--- request
GET /echo
--- response_body
x-foo=[some value] x-bar=[42] host=[localhost]



=== TEST 3: response_body_like and response_headers_like
--- config
    location = /t {
        add_header X-Request-Id "req-$connection-$connection_requests";
        return 200 "uri=$uri args=$args\n";
    }
--- request
GET /t?a=1&b=two
--- response_body_like: ^uri=/t args=a=1&b=two$
--- response_headers_like
X-Request-Id: req-\d+-1
Content-Length: 2\d



=== TEST 4: user_files served by the root location (subdirectories too)
--- config
--- user_files
>>> hello.txt
Hello from a user file
>>> sub/dir/deep.txt
deep file
--- request
GET /hello.txt
--- response_body
Hello from a user file
--- response_headers
Content-Length: 23



=== TEST 5: user file in a subdirectory, via $TEST_NGINX_HTML_DIR
--- config
    location = /deep {
        alias $TEST_NGINX_HTML_DIR/sub/dir/deep.txt;
    }
--- user_files
>>> sub/dir/deep.txt
deep file
--- request
GET /deep
--- response_body
deep file



=== TEST 6: error_page and a 404 logged at [error]
--- config
    location = /missing {
        root $TEST_NGINX_HTML_DIR/nope;
        error_page 404 = /fallback;
    }
    location = /fallback {
        internal;
        return 200 "fallback for $request_uri\n";
    }
--- request
GET /missing
--- error_code: 200
--- response_body
fallback for /missing
--- error_log eval
[qr/\[error\] .*open\(\) ".*\/nope\/missing" failed \(2: No such file or directory\)/, "client: 127.0.0.1"]
--- no_error_log
[warn]



=== TEST 7: nginx [warn] in error_log (duplicate MIME type)
--- http_config
    types {
        text/x-one  dup;
        text/x-two  dup;
    }
--- config
    location = /t {
        return 204;
    }
--- request
GET /t
--- error_code: 204
--- response_body eval
""
--- error_log
[warn]
duplicate extension "dup"



=== TEST 8: request eval with a POST body (Content-Length computed, body trimmed)
--- http_config
    log_format bodylog 'BODY[$request_body] CL[$http_content_length]';
--- config
    location = /post {
        access_log $TEST_NGINX_SERVER_ROOT/logs/access.log bodylog;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sink;
    }
    location = /sink {
        return 200 "sink got $content_length bytes\n";
    }
--- request eval
"POST /post\n" . ("ab" x 5) . "\x{21}\n"
--- response_body
sink got 11 bytes
--- access_log
BODY[ababababab!] CL[11]
--- no_error_log
[error]



=== TEST 9: several requests, array expectations
--- config
    location = /a { return 200 "A\n"; }
    location = /b { return 403; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 403]
--- response_body_like eval
["^A\n\\z", "403 Forbidden"]



=== TEST 10: pipelined requests on one keep-alive connection
--- config
    location = /one { return 200 "one:$connection_requests\n"; }
    location = /two { return 202 "two:$connection_requests\n"; }
--- pipelined_requests eval
["GET /one", "GET /two", "GET /one"]
--- error_code eval
[200, 202, 200]
--- response_body eval
["one:1\n", "two:2\n", "one:3\n"]
--- no_error_log
[error]



=== TEST 11: HEAD request: headers only
--- config
    location = /t {
        return 200 "head test\n";
    }
--- request
HEAD /t
--- response_body eval
""
--- response_headers
Content-Length: 10



=== TEST 12: must_die on an unknown directive
--- config
    location = /t {
        no_such_directive_here on;
    }
--- must_die
--- error_log
unknown directive "no_such_directive_here"



=== TEST 13: must_die with the expected exit code
--- http_config
    limit_req_zone $binary_remote_addr zone=z:notasize rate=1r/s;
--- config
--- must_die: 1
--- error_log eval
qr/\[emerg\].*invalid zone size "zone=z:notasize"/



=== TEST 14: raw_request sent verbatim (HTTP/1.0, no Host)
--- config
    location = /raw {
        return 200 "proto=$server_protocol host=[$host]\n";
    }
--- raw_request eval
"GET /raw HTTP/1.0\r\n\r\n"
--- response_body
proto=HTTP/1.0 host=[localhost]



=== TEST 15: main_config and env expansion of the server port
--- main_config
    worker_rlimit_nofile 1024;
--- config
    location = /port {
        return 200 "port=$server_port\n";
    }
--- request
GET /port
--- response_body eval
"port=$ENV{TEST_NGINX_SERVER_PORT}\n"
--- response_headers
!WWW-Authenticate



=== TEST 16: chunked transfer encoding is decoded
--- config
    location = /chunked {
        ssi on;
        ssi_types text/plain;
        return 200 '<!--# echo var="no_such_var" default="filtered" --> body\n';
    }
--- request
GET /chunked
--- response_body
filtered body
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- no_error_log
[error]



=== TEST 17: request packets with a delay, indented request, per-request more_headers
--- config
    location = /p {
        access_log $TEST_NGINX_SERVER_ROOT/logs/access.log bodylog2;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/sink;
    }
    location = /sink {
        return 200 "x-n=$http_x_n len=$content_length\n";
    }
--- http_config
    log_format bodylog2 'B2[$request_body]';
--- more_headers eval
["X-N: first", "X-N: second"]
--- request eval
[
    [ "POST /p\nname=", { value => "foo&x=1", delay_before => 0.2 } ],
    "    GET /p",
]
--- response_body eval
["x-n=first len=12\n", "x-n=second len=\n"]
--- access_log
B2[name=foo&x=1]



=== TEST 18: block without --- config reuses the previous nginx setup
--- request
    # comment lines before the request line are skipped
    GET /p
--- more_headers
X-N: third
--- response_body
x-n=third len=
--- no_error_log
[error]



=== TEST 19: grep_error_log, error_code_like, per-block log_level
--- log_level: warn
--- config
    location = /t {
        return 418 "teapot\n";
    }
--- http_config
    types {
        text/x-a  dupext;
        text/x-b  dupext;
    }
--- request
GET /t
--- error_code_like: ^41[89]$
--- grep_error_log eval
qr/duplicate extension "\w+"/
--- grep_error_log_out
duplicate extension "dupext"
--- no_error_log
[notice]



=== TEST 20: response_body_filters and the chomp section filter
--- config
    location = /t {
        return 200 "MiXeD cAsE";
    }
--- request
GET /t
--- response_body_filters
lc
--- response_body chomp
mixed case



=== TEST 21: user_files given as a Perl array, with an mtime
--- config
    location = /f {
        alias $TEST_NGINX_HTML_DIR/data.txt;
    }
--- user_files eval
[ [ "data.txt" => "array user file\n", "201801171935.33" ] ]
--- request
GET /f
--- response_body
array user file
--- response_headers
Last-Modified: Wed, 17 Jan 2018 19:35:33 GMT



=== TEST 22: shutdown_error_log sees the graceful shutdown
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /t
--- response_body
ok
--- shutdown_error_log
gracefully shutting down
--- no_shutdown_error_log
[error]
