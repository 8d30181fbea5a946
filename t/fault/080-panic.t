# Panic safety of the access handler. Needs the module built with the TEST-ONLY cargo
# feature "fault-injection" (scripts/test-panic builds it into target/fault and runs this
# file with TEST_NGINX_FAULT_INJECTION=1); it lives in t/fault/ so that the t/*.t runs of
# the normal build never pick it up.
#
# With that feature the token core panics on a token whose header has "x-fault":"panic"
# (right after the header is parsed). The handler must catch the panic: a 500 (through
# "error_page 500 = @err", which sees $auth_jwt_status "error" and no claims), one [error]
# line "auth_jwt: internal error while checking the token (error)", no token bytes in the
# log, no crashed worker, and the SAME worker process (same $pid) keeps serving valid
# tokens afterwards.
#
# Tokens are static, minted once with core's jwt-mint and the test-only key t/keys/rsa.key:
#   jwt-mint --key t/keys/rsa.key --kid rsa --sub panic-user --exp 4102444800 --header x-fault=panic
#   jwt-mint --key t/keys/rsa.key --kid rsa --sub alice --exp 4102444800
# Without the feature, the panic token is just a valid token (200): so this file refuses to
# run unless TEST_NGINX_FAULT_INJECTION=1 says the module under test has the feature.

BEGIN {
    if (!$ENV{TEST_NGINX_FAULT_INJECTION}) {
        die "\n*** t/fault/080-panic.t needs the module built with the TEST-ONLY cargo feature\n"
          . "*** \"fault-injection\", and TEST_NGINX_FAULT_INJECTION=1 to say so. Run it with\n"
          . "***     scripts/test-panic\n"
          . "*** (or: cargo build -p ngx_http_auth_jwt_module --features fault-injection\n"
          . "***  --target-dir target/fault, then TEST_NGINX_FAULT_INJECTION=1\n"
          . "***  scripts/prove-nginx --nginx ... --module ... t/fault/080-panic.t).\n"
          . "*** Without the feature the panic token is an ordinary valid token.\n\n";
    }
}

use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin/..";
use TestKeys;    # key_files(): the keys of t/keys, read at run time

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# header {"alg":"RS256","typ":"JWT","kid":"rsa","x-fault":"panic"}, sub "panic-user"
our $PANIC = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSIsIngtZmF1bHQiOiJwYW5pYyJ9.eyJzdWIiOiJwYW5pYy11c2VyIiwiZXhwIjo0MTAyNDQ0ODAwfQ.i8-ID3Wrl6aP00KhWjL4S4QEKGu6U2XgyUoOny8LTPv0cfk6JC1A0emFg9cYBWJ67Fx4tfk4OB2DVXvFzlom8fur8vIsq1jj5FwajheW-LIJSZ1CwMabveqOtY4AXtstsoClR2QwPXo2HyoPI4LPPq0-Kbm2H9UZj_3cDZsCpN8DcYSDTer21r6FpimfGgb4r1SfnO3Mt3i-R1CWPtL6JefBLKIqvRGQbHnsc_Jr-5CNNVL8zpIZxNg7qfJcjAWwvltzgdIofw-ShkZWKnAgVkD5rvylil2cPXbaiFLB1qrPVn9T87oc--yBxvbnwEOBaMUs7WcSNOHM4ucgb9DlWw';
# header {"alg":"RS256","typ":"JWT","kid":"rsa"}, sub "alice"
our $GOOD = 'eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJzdWIiOiJhbGljZSIsImV4cCI6NDEwMjQ0NDgwMH0.qAP5Xkin-Tyt2D8EUYTJRs1RS1YeOx7WxuMHUPsO039comjRXPN4U3UXIXrl3fRCYecP76dp3Pf9PVJaZHVtNlzwhlBMeWpvu1COe9IVo47J0TC7lp5toEeQd2xUMlDfFOrD01TRhjQY4Jij6rv0IuJgBtmq697IkWuZc8wU1XNdjy-c6O6ab9y0sGuZRH_6p1ol95nZg3bo6_NbKoGUqCKd-rYQzp306Pq6VWAgds8I_a5qCavX5Y-ohD9M7cLO-FC6_A8gRvJRDwjBtz6yPYaDBmJPUa-5p8rpXQn272NwUIFVdsVtXm0gMSdVwxu4ooamAONlxp8nhxS4YJNopA';
# the panic token's header segment: must never appear in the log
our $PANIC_HEADER = (split /\./, $PANIC)[0];

# Every response that shows a pid must come from the process that answered the first one
# of its block: a panic that escaped the handler would have killed that worker (the master
# starts a new one, with a new pid).
our %FirstPid;
add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;
    return if $dry_run;
    return unless defined $body && $body =~ /\bpid=(\d+)\b/;
    my $pid = $1;
    my $key = $block->name . " #$repeated_req_idx";
    if (!defined $FirstPid{$key}) {
        $FirstPid{$key} = $pid;
        return;
    }
    Test::More::is($pid, $FirstPid{$key},
                   $block->name . " - request $req_idx served by the same worker process");
});

master_on();
workers(1);
log_level('info');
# error_log patterns are checked after every request of a block: against the whole log, not
# only the lines of that request (the panic is the first request of the blocks that look).
check_accum_error_log();
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a panic is a 500 with $auth_jwt_status "error"; the same worker then accepts a valid token
--- config
    location = /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 500 = @err;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok status=$auth_jwt_status sub=$jwt_claim_sub pid=$pid\n";
    }
    location @err {
        return 500 "err status=$auth_jwt_status sub=[$jwt_claim_sub] pid=$pid\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $::PANIC", "Authorization: Bearer $::GOOD"]
--- error_code eval
[500, 200]
--- response_body_like eval
[qr/\Aerr status=error sub=\[\] pid=\d+\n\z/, qr/\Aok status=valid sub=alice pid=\d+\n\z/]
--- error_log
auth_jwt: internal error while checking the token (error), client: 127.0.0.1, request: "GET /t"
auth_jwt fault injection
--- no_error_log eval
["[alert]", "[crit]", "exited on signal", $::PANIC_HEADER]



=== TEST 2: repeated panics leave nothing behind: five 500s, then a valid token, all in one worker
--- config
    location = /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 500 = @err;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok status=$auth_jwt_status sub=$jwt_claim_sub pid=$pid\n";
    }
    location @err {
        return 500 "err status=$auth_jwt_status sub=[$jwt_claim_sub] pid=$pid\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
[("GET /t") x 6]
--- more_headers eval
[("Authorization: Bearer $::PANIC") x 5, "Authorization: Bearer $::GOOD"]
--- error_code eval
[(500) x 5, 200]
--- response_body_like eval
[(qr/\Aerr status=error sub=\[\] pid=\d+\n\z/) x 5, qr/\Aok status=valid sub=alice pid=\d+\n\z/]
--- error_log
auth_jwt: internal error while checking the token (error)
--- no_error_log eval
["[alert]", "[crit]", "exited on signal", $::PANIC_HEADER]



=== TEST 3: without error_page: nginx's own 500 page; a valid token before and after the panic, same worker
--- config
    location = /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        add_header X-JWT-Status $auth_jwt_status always;
        try_files /no-such-file @ok;
    }
    location @ok {
        add_header X-JWT-Status $auth_jwt_status;
        return 200 "ok status=$auth_jwt_status sub=$jwt_claim_sub pid=$pid\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $::GOOD", "Authorization: Bearer $::PANIC", "Authorization: Bearer $::GOOD"]
--- error_code eval
[200, 500, 200]
--- response_headers eval
["X-JWT-Status: valid", "X-JWT-Status: error", "X-JWT-Status: valid"]
--- response_body_like eval
[qr/\Aok status=valid sub=alice pid=\d+\n\z/, qr/500 Internal Server Error/, qr/\Aok status=valid sub=alice pid=\d+\n\z/]
--- no_error_log eval
["[alert]", "[crit]", "exited on signal", $::PANIC_HEADER]



=== TEST 4: a panic in a check made before the access phase (limit_req keyed by a claim): a 500 with $auth_jwt_status "error", the same worker then accepts a valid token
--- http_config
    limit_req_zone $jwt_claim_sub zone=panic_early:1m rate=100r/s;
--- config
    location = /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        limit_req zone=panic_early burst=10 nodelay;
        error_page 500 = @err;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok status=$auth_jwt_status sub=$jwt_claim_sub pid=$pid\n";
    }
    location @err {
        return 500 "err status=$auth_jwt_status sub=[$jwt_claim_sub] pid=$pid\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer $::PANIC", "Authorization: Bearer $::GOOD"]
--- error_code eval
[500, 200]
--- response_body_like eval
[qr/\Aerr status=error sub=\[\] pid=\d+\n\z/, qr/\Aok status=valid sub=alice pid=\d+\n\z/]
--- error_log
auth_jwt: internal error while checking the token (error), client: 127.0.0.1, request: "GET /t"
--- no_error_log eval
["[alert]", "[crit]", "exited on signal", $::PANIC_HEADER]
