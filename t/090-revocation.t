# Revocation, the idiomatic nginx way: a map from the token's jti to 0 for revoked tokens,
# kept in an included file and picked up by "nginx -s reload", enforced with
# auth_jwt_require. A map is a hash: 100k entries cost the same per request as 10 (see the
# Revocation section of docs/security.md for the hash sizes and the measurement).
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), key_files(): the keys of t/keys, read at run time

add_files(
    # 100,000 revoked jtis, the token under test among them.
    'revoked-100k.map' => join('', (map { "\"jti-bulk-$_\" 0;\n" } 1 .. 99_999), "\"jti-revoked-1\" 0;\n"),
    'revoked.map'      => "\"jti-revoked-1\" 0;\n\"jti-other\" 0;\n",
);

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a revoked jti is refused (require_failed), other tokens pass
--- http_config
    map $jwt_claim_jti $jwt_not_revoked {
        volatile;
        default 1;
        include $TEST_NGINX_HTML_DIR/revoked.map;
    }
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $jwt_not_revoked;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok sub=$jwt_claim_sub\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "denied status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.pub", "revoked.map")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImp0aSI6Imp0aS1yZXZva2VkLTEiLCJleHAiOjQxMDI0NDQ4MDB9.p1LpWvM-hgHam_OulN79YzYTHzt_-pWcCkr6bsnmsZ8lDF6fr3P2bP5nKYCgYUXsVs9gnEf9YkGAKj3WO0he9sbA85ElkoGcOUA3t_-zZHTuhPybpdtudGdIFrae68O04nZbCbuKd-3pY2uW2bMtFsXGoOvXuxV3OuYXnnnmvQMR-kPPoNH5HnoWMYZvx1F_v-3eQEioyhqs3CIvM_jQiNHs4cK5_1WNneDjjZsweCLtwoUJOrjxHk6UkA2jgRRu5D1BaIjfowfhqfz4Y2C7kr5EDZMyEo9u_dsmPvmWQJCASFEt84edLtrYy-Gl7akUIa9jL8uJ8eXtfMpoFu41ew", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJqdGkiOiJqdGktb2stMiIsImV4cCI6NDEwMjQ0NDgwMH0.MB7QkZwzO0k8W3FIHaodRJGmcs3Kq4o-JoSss_BZOxa-Zt9Iga3fr4YB8wAaqdq8cdczq8Jy5ZL2ebzNafglIWU6pRYMa4IFXjKI3ortHfHqvZ9z8xtaxT8BeCooJWuJoPHHII5FeDfF4RZV6wdnSrKU183WNDsFSDzeIBIYX-58c3lJ9myVApgkfCc8-mFRujkDX6HLm7krE8WddaZnc6mC9ZPO1D6o7RyWR11vrG8zq4GmcjzFhfP1mKX0kJfKMBveiEqZndn9QM_ouk6XvZExXWFtKjYKa1sMlk3TiIqQtM1iud1pYX_NN3dEvhtUbj4fNA8WpNXMJtI9Nh_apQ", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYXJvbCIsImV4cCI6NDEwMjQ0NDgwMH0.KvRGLF1K7Btj_ZMN6Qskz95VCxwpMrdzkbgjW_-1IbPfXPc2BOCccaoMOkzox2cFg_P8Cuge9cRhMJY6TPO8KHHdCmVY2R0MJqRrvSGdInhgZSD0_ejDIaDPemXwh4WLFtpOgS8vLuIt7ZDkH1Pf52Xfv6UOs7ZcKZUx11fIVuQozf_9xfBZ6wf5EEAKIv7xajYWUacFcXEwTMgda_lkgHOS_63L97ZMEpboZHXrq9-aKHlQ4ceJhjvk7-2mZwlh9nSPNdncg7_YMEGHS6UceZ-9ulPIwce7qi-PJ-IN4DpGEN3CnuMaE3bJDwgDdfUEkbTbAzZFsCCHKDzilSJe6A"]
--- error_code eval
[401, 200, 200]
--- response_body eval
["denied status=require_failed\n", "ok sub=bob\n", "ok sub=carol\n"]



=== TEST 2: 100,000 revoked jtis load and are enforced
--- http_config
    map_hash_max_size 262144;
    map_hash_bucket_size 128;
    map $jwt_claim_jti $jwt_not_revoked {
        volatile;
        default 1;
        include $TEST_NGINX_HTML_DIR/revoked-100k.map;
    }
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $jwt_not_revoked;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok sub=$jwt_claim_sub\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "denied status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.pub", "revoked-100k.map")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSIsImp0aSI6Imp0aS1yZXZva2VkLTEiLCJleHAiOjQxMDI0NDQ4MDB9.p1LpWvM-hgHam_OulN79YzYTHzt_-pWcCkr6bsnmsZ8lDF6fr3P2bP5nKYCgYUXsVs9gnEf9YkGAKj3WO0he9sbA85ElkoGcOUA3t_-zZHTuhPybpdtudGdIFrae68O04nZbCbuKd-3pY2uW2bMtFsXGoOvXuxV3OuYXnnnmvQMR-kPPoNH5HnoWMYZvx1F_v-3eQEioyhqs3CIvM_jQiNHs4cK5_1WNneDjjZsweCLtwoUJOrjxHk6UkA2jgRRu5D1BaIjfowfhqfz4Y2C7kr5EDZMyEo9u_dsmPvmWQJCASFEt84edLtrYy-Gl7akUIa9jL8uJ8eXtfMpoFu41ew", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IiLCJqdGkiOiJqdGktb2stMiIsImV4cCI6NDEwMjQ0NDgwMH0.MB7QkZwzO0k8W3FIHaodRJGmcs3Kq4o-JoSss_BZOxa-Zt9Iga3fr4YB8wAaqdq8cdczq8Jy5ZL2ebzNafglIWU6pRYMa4IFXjKI3ortHfHqvZ9z8xtaxT8BeCooJWuJoPHHII5FeDfF4RZV6wdnSrKU183WNDsFSDzeIBIYX-58c3lJ9myVApgkfCc8-mFRujkDX6HLm7krE8WddaZnc6mC9ZPO1D6o7RyWR11vrG8zq4GmcjzFhfP1mKX0kJfKMBveiEqZndn9QM_ouk6XvZExXWFtKjYKa1sMlk3TiIqQtM1iud1pYX_NN3dEvhtUbj4fNA8WpNXMJtI9Nh_apQ"]
--- error_code eval
[401, 200]
--- response_body eval
["denied status=require_failed\n", "ok sub=bob\n"]
--- timeout: 10
