# auth_jwt at the server{} level with the key files only in its locations: accepted, as NGINX
# Plus accepts it; a request that matches no location then has no key and is refused with 500.
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), key_files(): the keys of t/keys, read at run time

no_root_location();
log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: server-level auth_jwt, keys in the location: a valid token passes
--- config
    auth_jwt "srv";
    location = /a {
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /echo {
        auth_jwt off;
        return 200 "sub=$http_x_sub\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEyMyIsImV4cCI6NDEwMjQ0NDgwMH0.lHgm7Sj8ttnCOXOHGpSEs-_UjopBZqR4Ojpvn5prqPb4W82UspuB1bvnwGclzd1zuYeFbdEWnH2w0u7X1MdMcYqs3E5QUBBJ5ovNdiTMplGxXB_v_U9j9y7JGkRh6X2Y-MRlTMZXdTVXZ6PYOAm7Nvk5DvWWsOxNfnnGhGTuksBDBjq7CTYdCId5srL5WnLXqeinYafrSGapkg33of7_8wKvC4I6Exf2X3zmTe47u7ZKX48wOXIi0K-3XJ5oDNx4L9vNQR2vox07g6SH8Kky9eJG6qopnt_wrMK3yZ8ag09qyBPqN4jejynbmiPOZW1kpgl-I1rOADUTjqIymRWdqA
--- request
GET /a
--- error_code: 200
--- response_body
sub=user-123



=== TEST 2: server-level auth_jwt, no location matches: 500, "error", never a pass
--- config
    auth_jwt "srv";
    location = /a {
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        return 204;
    }
    error_page 500 = @err;
    location @err {
        auth_jwt off;
        return 500 "status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request
GET /elsewhere
--- error_code: 500
--- response_body
status=error
--- error_log
auth_jwt: no "auth_jwt_key_file" applies to this request (error)
