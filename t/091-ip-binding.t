# IP binding: refuse a token whose "ip" claim differs from the client address, with a map
# over "$jwt_claim_ip|$remote_addr" (a regex back-reference compares the two) and
# auth_jwt_require. The claim name is whatever variable the map reads; with the realip
# module $remote_addr is the address realip set.
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), key_files(): the keys of t/keys, read at run time

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: ip claim equal to the client address passes; another address or no claim is refused
--- http_config
    map "$jwt_claim_ip|$remote_addr" $jwt_ip_bound {
        volatile;
        "~^(?<jwt_bound_ip>[^|]+)\|(?P=jwt_bound_ip)$"  1;
        default                                          0;
    }
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $jwt_ip_bound error=403;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok sub=$jwt_claim_sub\n";
    }
    error_page 401 403 = @denied;
    location @denied {
        return 403 "denied status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJkYXZlIiwiaXAiOiIxMjcuMC4wLjEiLCJleHAiOjQxMDI0NDQ4MDB9.G9e6Twf4DNNyrYODcrPCe98WKmYbuxl2CUiGxuR3jkMLUt2GSpbBFYw7KssXXHM33io7a5EkrcYrmP7HiWjQjxfAF_v88eOkIr-GwLaVtI2SDdWm9dba9rpofnbpbi57JzFHx2BhtvF9Wlqr2mP7YgUfGNc1cOKVdLIv59tLLdXkAgKLl5qoj9dcTG80AgpOIEAfxEXDc4Ij5Th9Zj38QkaDjhVlOTL6rv7N4Yt6_RU9f-fUnGN5nSdcvi8JQYje1Db7ZQrF99BsaA3jaBMo6qa6Maoza9On05ZWGP1dbn6RySMpdumK9hFEUWqCDGPJqAAlw3CQnmKdtNVW_SI50Q", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJlcmluIiwiaXAiOiIxMC45LjguNyIsImV4cCI6NDEwMjQ0NDgwMH0.IyJrDwI2talqn9WEet_sf0TNjjHCbmc1a1O9cTHTdDoEq1K-ZPxJn3yxRKzFBVzTVDO2Rb0PeT2upViYMMg4WOQ4g2Pvr2GxSIg2o_-d5rjJQf7dAaHG0gJqecKNyYdtBi6ajeC2c-nfr4JexWLVyLIgfL3NPtI6BspvHaU5asLDRk1rvt8WlYd_i_nTlKcQmDe_ji4c_fkPgcYBIHPWH3CH4R2bkzuT2agZI_WcN0b7-8C13wBVVzN9XmLh4Mg7Ad6mS3q9nC0HMQZUYaVjbbFaergsIUXf5WlC4r8xUdSoyDVDVIiJROC6Svto8oHvkVLB5A5zJMS_4-VdQ5iwoA", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYXJvbCIsImV4cCI6NDEwMjQ0NDgwMH0.KvRGLF1K7Btj_ZMN6Qskz95VCxwpMrdzkbgjW_-1IbPfXPc2BOCccaoMOkzox2cFg_P8Cuge9cRhMJY6TPO8KHHdCmVY2R0MJqRrvSGdInhgZSD0_ejDIaDPemXwh4WLFtpOgS8vLuIt7ZDkH1Pf52Xfv6UOs7ZcKZUx11fIVuQozf_9xfBZ6wf5EEAKIv7xajYWUacFcXEwTMgda_lkgHOS_63L97ZMEpboZHXrq9-aKHlQ4ceJhjvk7-2mZwlh9nSPNdncg7_YMEGHS6UceZ-9ulPIwce7qi-PJ-IN4DpGEN3CnuMaE3bJDwgDdfUEkbTbAzZFsCCHKDzilSJe6A"]
--- error_code eval
[200, 403, 403]
--- response_body eval
["ok sub=dave\n", "denied status=require_failed\n", "denied status=require_failed\n"]



=== TEST 2: tokens without the claim pass when the map says so; the claim name is configurable
--- http_config
    map "$jwt_claim_client_ip|$remote_addr" $jwt_ip_bound {
        volatile;
        "~^\|"                                            1;
        "~^(?<jwt_bound_ip>[^|]+)\|(?P=jwt_bound_ip)$"    1;
        default                                           0;
    }
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $jwt_ip_bound error=403;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJnaW5hIiwiY2xpZW50X2lwIjoiMTI3LjAuMC4xIiwiZXhwIjo0MTAyNDQ0ODAwfQ.nwlE8TLyaosBHbnx47OjS5cKAKYPYrvoEFHJkX8hO841p8KeUYBK2-VDh2RKRvSIc9935fB9wGOmn1li3J5Cv_ymyTlMIJ-qogajSYy6MaNhEf3IZPlPiC-lEOjpZDXj9jCXy3lZylbHZawOe3uMwpeWsUcQyLHc3FAQU5N6nzZR25swp-y9h-pyDqPT2ialLvvuLAiqklNJmfhvIPAr2Yek2Ng5n6X1wU9v-5lZNDe-1Uqcc2IgmOxS9_vSyYJRxuLDKI-BArAGgzgDZeRE1kV1DhDKCUy7OPz8ErBR-fJ_frZdiHJdhAH9_P16rgfmsCtB3jtr1imgNyPCZP9Yzw", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjYXJvbCIsImV4cCI6NDEwMjQ0NDgwMH0.KvRGLF1K7Btj_ZMN6Qskz95VCxwpMrdzkbgjW_-1IbPfXPc2BOCccaoMOkzox2cFg_P8Cuge9cRhMJY6TPO8KHHdCmVY2R0MJqRrvSGdInhgZSD0_ejDIaDPemXwh4WLFtpOgS8vLuIt7ZDkH1Pf52Xfv6UOs7ZcKZUx11fIVuQozf_9xfBZ6wf5EEAKIv7xajYWUacFcXEwTMgda_lkgHOS_63L97ZMEpboZHXrq9-aKHlQ4ceJhjvk7-2mZwlh9nSPNdncg7_YMEGHS6UceZ-9ulPIwce7qi-PJ-IN4DpGEN3CnuMaE3bJDwgDdfUEkbTbAzZFsCCHKDzilSJe6A"]
--- error_code eval
[200, 200]
--- response_body eval
["ok sub=gina\n", "ok sub=carol\n"]



=== TEST 3: behind a trusted proxy, the address realip sets is the one compared
--- http_config
    map "$jwt_claim_ip|$remote_addr" $jwt_ip_bound {
        volatile;
        "~^(?<jwt_bound_ip>[^|]+)\|(?P=jwt_bound_ip)$"  1;
        default                                          0;
    }
--- config
    set_real_ip_from 127.0.0.1;
    real_ip_header X-Forwarded-For;
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $jwt_ip_bound error=403;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok sub=$jwt_claim_sub addr=$remote_addr\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmcmFuayIsImlwIjoiMjAzLjAuMTEzLjciLCJleHAiOjQxMDI0NDQ4MDB9.i49WTJidD2IN-gfMCr47Xeuiw6mFlPGH3yb8LP9TVii3e8s_eLamfEommNwXuovByzmse1SXIZ-H-sIXoHoV4jnVb0DiTWtHdlRFVFE9tGhv2XadXwZoL3EJocWtJUZqx3HtHppOZeu8mMAucpLeUhOq8w64TPgk-NcSfAD7cVArjiuWaHYFgLcbSLiHp73l1SI3vlebQHEnuEjFtvWDpFGSqloT98Qa-U3ffXntAYphgWAD_yZJ8n7IN61YAAS3QZMUbNAgIx_9U5B0-rOTPqWSZxTCHAQW318sIAwwLnGD2mo5LB_OFQd0WoUF7O1aPa4WfJs0d-g8iagsZT6K9A\nX-Forwarded-For: 203.0.113.7", "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmcmFuayIsImlwIjoiMjAzLjAuMTEzLjciLCJleHAiOjQxMDI0NDQ4MDB9.i49WTJidD2IN-gfMCr47Xeuiw6mFlPGH3yb8LP9TVii3e8s_eLamfEommNwXuovByzmse1SXIZ-H-sIXoHoV4jnVb0DiTWtHdlRFVFE9tGhv2XadXwZoL3EJocWtJUZqx3HtHppOZeu8mMAucpLeUhOq8w64TPgk-NcSfAD7cVArjiuWaHYFgLcbSLiHp73l1SI3vlebQHEnuEjFtvWDpFGSqloT98Qa-U3ffXntAYphgWAD_yZJ8n7IN61YAAS3QZMUbNAgIx_9U5B0-rOTPqWSZxTCHAQW318sIAwwLnGD2mo5LB_OFQd0WoUF7O1aPa4WfJs0d-g8iagsZT6K9A\nX-Forwarded-For: 198.51.100.1"]
--- error_code eval
[200, 403]
--- response_body_like eval
["ok sub=frank addr=203.0.113.7", "403 Forbidden"]
