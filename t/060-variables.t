# Variables: $jwt_claim_<name> and $jwt_header_<name> rendering (strings,
# numbers, booleans, null, arrays, objects, absent members), the case-insensitive
# fallback for names nginx lowercases, $jwt_payload as sent, $auth_jwt_status,
# values after internal redirects, in access_log, and no leaks between requests.
#
# Tokens are static, minted once with the test-only keys of t/keys (make.sh)
# and core's jwt-mint (odd ones signed by a throwaway script over hand-written
# JSON); "exp" 4102444800 is 2100-01-01.

use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key_files(): the keys of t/keys, read at run time

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: scalar claims: strings as sent, numbers and booleans as JSON text, null and absent as empty
--- config
    location /echo {
        return 200 "$http_x_vars\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Vars "sub=[$jwt_claim_sub] num=[$jwt_claim_num] neg=[$jwt_claim_neg] flt=[$jwt_claim_flt] yes=[$jwt_claim_yes] no=[$jwt_claim_no] nul=[$jwt_claim_nul] empty=[$jwt_claim_empty] absent=[$jwt_claim_absent] uni=[$jwt_claim_uni] spaced=[$jwt_claim_spaced] exp=[$jwt_claim_exp]";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsImVudiI6InByb2QiLCJraWQiOiJyc2EiLCJ0eXAiOiJKV1QiLCJ4NXQiOlsiYSIsMV19.eyJhcnIiOlsiYSIsImIiLCJjIl0sImF1ZCI6WyJhcGkiLCJ3ZWIiXSwiZW1wdHkiOiIiLCJleHAiOjQxMDI0NDQ4MDAsImZsdCI6MS41LCJtaXhlZCI6WzEsIngiLHRydWUsbnVsbCx7ImsiOiJ2In0sWzEsMl1dLCJuZWciOi03LCJubyI6ZmFsc2UsIm51bCI6bnVsbCwibnVtIjo0Miwib2JqIjp7ImEiOnsiYyI6WzEsMl19LCJiIjoidHdvIn0sInNwYWNlZCI6ImEgYiAgXCJxXCIiLCJzdWIiOiJhbGljZSIsInVuaSI6Ilpvw6sg5ZCNIiwidXNlcklkIjoidS0xMjMiLCJ5ZXMiOnRydWV9.Yciw1HQY_xeMa91VXU3eBWKseo4yPJsb6dHqs6GzrpIHxY2n6HHn32EhX-zj-0Evr5rTAmJTADLFBDn3yOHevpOUiUIV0S3SJr2K3el6XjS8w-ULxLlG4diDuopWkRss3_PtsRSGbQDuF5SrgjmFGoOsYd2Ysa2TmYqk_AlYB0q-TMkolDWuHZscSIYEiR3igFhfrBpruNgK4tPbcR3t0-PgLJY4Op4DhfRpYMCEmzMtDM9ZPsnhZWRP8Rkg3kW_qjQbo475tfGEYonpt567E2sm7muyC84hE3PHusa2V_0dbnl5ihICwTYNWSlKboJGzqVG3ArxXVbqzTyBZ-Uxsw
--- request
GET /t
--- error_code: 200
--- response_body
sub=[alice] num=[42] neg=[-7] flt=[1.5] yes=[true] no=[false] nul=[] empty=[] absent=[] uni=[Zoë 名] spaced=[a b  "q"] exp=[4102444800]



=== TEST 2: arrays are joined with commas (nested values as compact JSON), objects are compact JSON
--- config
    location /echo {
        return 200 "$http_x_vars\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Vars "arr=[$jwt_claim_arr] aud=[$jwt_claim_aud] mixed=[$jwt_claim_mixed] obj=[$jwt_claim_obj]";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsImVudiI6InByb2QiLCJraWQiOiJyc2EiLCJ0eXAiOiJKV1QiLCJ4NXQiOlsiYSIsMV19.eyJhcnIiOlsiYSIsImIiLCJjIl0sImF1ZCI6WyJhcGkiLCJ3ZWIiXSwiZW1wdHkiOiIiLCJleHAiOjQxMDI0NDQ4MDAsImZsdCI6MS41LCJtaXhlZCI6WzEsIngiLHRydWUsbnVsbCx7ImsiOiJ2In0sWzEsMl1dLCJuZWciOi03LCJubyI6ZmFsc2UsIm51bCI6bnVsbCwibnVtIjo0Miwib2JqIjp7ImEiOnsiYyI6WzEsMl19LCJiIjoidHdvIn0sInNwYWNlZCI6ImEgYiAgXCJxXCIiLCJzdWIiOiJhbGljZSIsInVuaSI6Ilpvw6sg5ZCNIiwidXNlcklkIjoidS0xMjMiLCJ5ZXMiOnRydWV9.Yciw1HQY_xeMa91VXU3eBWKseo4yPJsb6dHqs6GzrpIHxY2n6HHn32EhX-zj-0Evr5rTAmJTADLFBDn3yOHevpOUiUIV0S3SJr2K3el6XjS8w-ULxLlG4diDuopWkRss3_PtsRSGbQDuF5SrgjmFGoOsYd2Ysa2TmYqk_AlYB0q-TMkolDWuHZscSIYEiR3igFhfrBpruNgK4tPbcR3t0-PgLJY4Op4DhfRpYMCEmzMtDM9ZPsnhZWRP8Rkg3kW_qjQbo475tfGEYonpt567E2sm7muyC84hE3PHusa2V_0dbnl5ihICwTYNWSlKboJGzqVG3ArxXVbqzTyBZ-Uxsw
--- request
GET /t
--- error_code: 200
--- response_body
arr=[a,b,c] aud=[api,web] mixed=[1,x,true,,{"k":"v"},[1,2]] obj=[{"a":{"c":[1,2]},"b":"two"}]



=== TEST 3: header members ($jwt_header_*), here in add_header of a content handler
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        add_header X-Hdr "alg=[$jwt_header_alg] typ=[$jwt_header_typ] kid=[$jwt_header_kid] env=[$jwt_header_env] x5t=[$jwt_header_x5t] cty=[$jwt_header_cty] sub=[$jwt_header_sub]";
        empty_gif;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsImVudiI6InByb2QiLCJraWQiOiJyc2EiLCJ0eXAiOiJKV1QiLCJ4NXQiOlsiYSIsMV19.eyJhcnIiOlsiYSIsImIiLCJjIl0sImF1ZCI6WyJhcGkiLCJ3ZWIiXSwiZW1wdHkiOiIiLCJleHAiOjQxMDI0NDQ4MDAsImZsdCI6MS41LCJtaXhlZCI6WzEsIngiLHRydWUsbnVsbCx7ImsiOiJ2In0sWzEsMl1dLCJuZWciOi03LCJubyI6ZmFsc2UsIm51bCI6bnVsbCwibnVtIjo0Miwib2JqIjp7ImEiOnsiYyI6WzEsMl19LCJiIjoidHdvIn0sInNwYWNlZCI6ImEgYiAgXCJxXCIiLCJzdWIiOiJhbGljZSIsInVuaSI6Ilpvw6sg5ZCNIiwidXNlcklkIjoidS0xMjMiLCJ5ZXMiOnRydWV9.Yciw1HQY_xeMa91VXU3eBWKseo4yPJsb6dHqs6GzrpIHxY2n6HHn32EhX-zj-0Evr5rTAmJTADLFBDn3yOHevpOUiUIV0S3SJr2K3el6XjS8w-ULxLlG4diDuopWkRss3_PtsRSGbQDuF5SrgjmFGoOsYd2Ysa2TmYqk_AlYB0q-TMkolDWuHZscSIYEiR3igFhfrBpruNgK4tPbcR3t0-PgLJY4Op4DhfRpYMCEmzMtDM9ZPsnhZWRP8Rkg3kW_qjQbo475tfGEYonpt567E2sm7muyC84hE3PHusa2V_0dbnl5ihICwTYNWSlKboJGzqVG3ArxXVbqzTyBZ-Uxsw
--- request
GET /t
--- error_code: 200
--- response_headers
X-Hdr: alg=[RS256] typ=[JWT] kid=[rsa] env=[prod] x5t=[a,1] cty=[] sub=[]
Content-Type: image/gif



=== TEST 4: $jwt_payload with raw line breaks is re-serialised compactly (safe in a header), and variables survive try_files to a named location
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        try_files /no-such-file @after;
    }
    location @after {
        return 200 "status=$auth_jwt_status name=$jwt_claim_name kid=$jwt_header_kid payload=$jwt_payload\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyAic3ViIiA6ICJhbGljZSIsCiAgImV4cCI6IDQxMDI0NDQ4MDAsICJuYW1lIjogIlpvXHUwMGViIiB9.RIPLuS7xDw58UlA3wscOxYQfPkNuPHv-lD5u2ECOFcDTbIqe3DGklFYurwdlvs0JePg_d9pqz0v5hbmYZlYoMyeeZ_jt1IVkBdlHSVmYRhH10Zn6v9TpepNHS1SflKIuv6NAPoDKUPlCkH-MvuPoASxf5nJ5qDwUkjO7EAmThdQ4_jzsIMAW_79lJg5lGtWCJHAIDAUoDzpRa7rfck67xJeKVyLdEY-xb6rAeuRo_c-UBmhxaaOBCa3w69CIhfq_an_leLlf-2RCzAnB4jif3OF8Krqini4WQQsmPKDPnhDJ_27n3F9YKEjpVw7x35lkOrKEv1XHztompDPhpfikCQ
--- request
GET /t
--- error_code: 200
--- response_body
status=valid name=Zoë kid=rsa payload={"sub":"alice","exp":4102444800,"name":"Zoë"}



=== TEST 5: nginx lowercases variable names: an exact member wins, otherwise any case matches
--- config
    location /echo {
        return 200 "$http_x_vars\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Vars "userid=[$jwt_claim_userid] userId=[$jwt_claim_userId] USERID=[$jwt_claim_USERID] username=[$jwt_claim_username] kid=[$jwt_header_kid]";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJjIiwidXNlcmlkIjoibG93ZXIiLCJ1c2VySWQiOiJjYW1lbCIsIlVzZXJJZCI6InBhc2NhbCIsImV4cCI6NDEwMjQ0NDgwMH0.bj6VsJfcXp3oowKZF7ztXw3tDNK9gBmLEF4gwL3x9ygLcHwJzPxveHsKAQ24YaRdYI1-kINvnptciWIydARFmE6Xloty84q0jIWl_bISyqBcp6n-8xfzIBk0GM_cuiNPWE-6BopolS4Eo_YecJo6dHgTsc64iuFZwHlAs8ixrauTbsUPlRpZKjWOD0FyDcw1tKo_iWOmKe8OQNucCWH2IAllV9PxEzbKtrG9N998AKMEja2-_FE0c2dzR2nFsCmwBQOC8iM8VD6q6PYRawtLArymcJADXWrVjz5vsd3r1MuMRo69AGHpahCIt61sGQb3hjj8doxjzQMao4K25igGJg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsIktpZCI6IksxIn0.eyJzdWIiOiJjIiwiVVNFUk5BTUUiOiJ1cHBlciIsImV4cCI6NDEwMjQ0NDgwMH0.hhrjkLyBlAsowZL6q3KnkYnXrTXm-dyGmD76CzOlBoSQt-aZ6eZnFpN_wWIuJVLcK4Ii7X5uJmBXNKnkwuVcELKmQyE89Iu_zJTGnus6qGeWJMVc-aeWHIEwk_veYadDfgyocuCY9snSGsFv5UQKDWEBN6XC0ZK47Mfh-3ewALgFCigFT-zD3te3Y66B7Bo_kNAOsIpSLO7MIASe0Dfsjay4ulkpeEYuOatHBMBGBB1m0Hi6Ba14KnvCdjk_yCT_T3pBcwTtiHlvBvDaE90kEjIuRlxJrkVSGmASu_N308qQ23r7TxVD8pSgUFN4_4m9QDjYFDYYK-3uj9lX87kp8Q",
]
--- error_code eval
[200, 200]
--- response_body eval
[
"userid=[lower] userId=[lower] USERID=[lower] username=[] kid=[]\n",
"userid=[] userId=[] USERID=[] username=[upper] kid=[K1]\n",
]



=== TEST 6: after error_page 401 /401.html the status is known and the refused token's claims are empty
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $jwt_claim_admin;
        error_page 401 /401.html;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /401.html {
        return 401 "status=$auth_jwt_status sub=[$jwt_claim_sub] alg=[$jwt_header_alg] payload=[$jwt_payload]\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMDAwMDAwMDAsInN1YiI6ImFsaWNlIn0.Gr1cr_N1WMSwVg8F_qeu-Ff_cOshNYaVn2OTqWuVLmvRq_wsLZLRwlsRMg2BjKTlANlbvoIJGNad1xlNnyMCaOyP0RKiJipIohUR5sMKWVYXVjSrbUopHtMBPfwJS7IDGlE3t3O_-F9Ep2M-PCA_ztLr9mox-icMYSMgCG7ssRedYaoClqddXWxsXqeIfTqG-hyMHXfqNzTKhV-FXEQPZmujTSTdC-f6zQM-zutZ8UtZnFDj7HE1Bt3olyF_O_MrozW7zQdPZoncZ88bbQhxMPUE4MpuvpePYGiPRtyeGgwJsKPnDNfTvg_kH2__s2QyjJbIw3X2XA7oitJ_sGm2Aw",
"",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IifQ.A0jVxi7gL-stibpWafglstrZCbLKJ-XOfqR8zS3E-nzVcgWiSAOLp3GpllqlYHUCBynMJXXm2Sp-8hiC_9uIn2ubTm0GKxHIFxqb07SkZmjDFcN--1u4gSM3kSkyap4FTvsAj5lIP1Di-jx2sebcglyhgEojcnmTcn_om7-Tjl4h4tIYXmsYM6CH7u2D9_FY1M6QE4Ub-nf2ssqldaPJuvsh3Ejd-2IbGxqrtL_h86l9z0wgx3K0LL9M0Gaf_hbhOSYJDTK_7RNVlise6x8X51k6rsaCXv5u_MI61rqmD9zF1FSzTgsnIJ3-_cnGSNvPwFyeMotsseJz4g05RRWmUw",
]
--- error_code eval
[401, 401, 401]
--- response_body eval
[
"status=expired sub=[] alg=[] payload=[]\n",
"status=missing sub=[] alg=[] payload=[]\n",
"status=require_failed sub=[bob] alg=[RS256] payload=[{\"sub\":\"bob\"}]\n",
]



=== TEST 7: where auth_jwt does not run, every variable is empty (even with a valid token)
--- config
    location /echo {
        return 200 "$http_x_vars\n";
    }
    location /open {
        proxy_set_header X-Vars "status=[$auth_jwt_status] sub=[$jwt_claim_sub] alg=[$jwt_header_alg] payload=[$jwt_payload]";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /off {
        auth_jwt off;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Vars "status=[$auth_jwt_status] sub=[$jwt_claim_sub] alg=[$jwt_header_alg] payload=[$jwt_payload]";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /open", "GET /off"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
]
--- error_code eval
[200, 200]
--- response_body eval
[
"status=[] sub=[] alg=[] payload=[]\n",
"status=[] sub=[] alg=[] payload=[]\n",
]



=== TEST 8: a refused token's status is set, its claims, header and payload stay empty (error_page 401 = @named)
--- config
    location /echo {
        return 200 "$http_x_vars\n";
    }
    location @denied {
        return 401 "status=[$auth_jwt_status] sub=[$jwt_claim_sub] alg=[$jwt_header_alg] payload=[$jwt_payload]\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Vars "status=[$auth_jwt_status] sub=[$jwt_claim_sub] alg=[$jwt_header_alg] payload=[$jwt_payload]";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhZG1pbiJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJuYmYiOjQxMDI0NDQ4MDAsInN1YiI6ImFsaWNlIn0.d_nIvN2RCagPx_d56R-ra081q0ZF6jL398QLMw9ctQ6VPGYHYUyse-DgANVTvURz1kj_NQjbg8L8edeGKdVmpVL8RoXCkjVZnxE2gdtZrRfpuIi_-Gfx9xDdtWjnCANqp7V2ygWdbAJB-9ki7HHqVfKcyoUVEAILnzZ56uUSsGNV5tfKhESSFUuVENE7WWX7B03CtizsH-hrP-hIR_q9gDI7xHNrKlAdmCl25J4ZaSPlqV4T_aulkHajv9Kyu8o6EjHtdZfRlxsE8ikpPy-RhM1iHYTTxM7Ru98gck8LEKmcwlSxcs6I2GnQuAZldnB_VhQc8hTBbHBlREC0mOnIHQ",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IifQ.A0jVxi7gL-stibpWafglstrZCbLKJ-XOfqR8zS3E-nzVcgWiSAOLp3GpllqlYHUCBynMJXXm2Sp-8hiC_9uIn2ubTm0GKxHIFxqb07SkZmjDFcN--1u4gSM3kSkyap4FTvsAj5lIP1Di-jx2sebcglyhgEojcnmTcn_om7-Tjl4h4tIYXmsYM6CH7u2D9_FY1M6QE4Ub-nf2ssqldaPJuvsh3Ejd-2IbGxqrtL_h86l9z0wgx3K0LL9M0Gaf_hbhOSYJDTK_7RNVlise6x8X51k6rsaCXv5u_MI61rqmD9zF1FSzTgsnIJ3-_cnGSNvPwFyeMotsseJz4g05RRWmUw",
]
--- error_code eval
[401, 401, 200]
--- response_body eval
[
"status=[bad_signature] sub=[] alg=[] payload=[]\n",
"status=[not_yet_valid] sub=[] alg=[] payload=[]\n",
"status=[valid] sub=[bob] alg=[RS256] payload=[{\"sub\":\"bob\"}]\n",
]



=== TEST 9: access_log of an accepted request
--- http_config
    log_format jwt 'JWT $status $auth_jwt_status sub=$jwt_claim_sub iss=$jwt_claim_iss aud=$jwt_claim_aud';
--- config
    location /echo {
        return 200 "ok\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        access_log $TEST_NGINX_SERVER_ROOT/logs/access.log jwt;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q
--- request
GET /t
--- error_code: 200
--- access_log
JWT 200 valid sub=alice iss=https://idp.example aud=api



=== TEST 10: access_log of a refused token: the status word, no claims
--- http_config
    log_format jwt 'JWT $status $auth_jwt_status sub=$jwt_claim_sub iss=$jwt_claim_iss';
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        access_log $TEST_NGINX_SERVER_ROOT/logs/access.log jwt;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMDAwMDAwMDAsInN1YiI6ImFsaWNlIn0.Gr1cr_N1WMSwVg8F_qeu-Ff_cOshNYaVn2OTqWuVLmvRq_wsLZLRwlsRMg2BjKTlANlbvoIJGNad1xlNnyMCaOyP0RKiJipIohUR5sMKWVYXVjSrbUopHtMBPfwJS7IDGlE3t3O_-F9Ep2M-PCA_ztLr9mox-icMYSMgCG7ssRedYaoClqddXWxsXqeIfTqG-hyMHXfqNzTKhV-FXEQPZmujTSTdC-f6zQM-zutZ8UtZnFDj7HE1Bt3olyF_O_MrozW7zQdPZoncZ88bbQhxMPUE4MpuvpePYGiPRtyeGgwJsKPnDNfTvg_kH2__s2QyjJbIw3X2XA7oitJ_sGm2Aw
--- request
GET /t
--- error_code: 401
--- access_log
JWT 401 expired sub=- iss=-



=== TEST 11: access_log of a failed requirement: the claims of the (valid) token are there
--- http_config
    log_format jwt 'JWT $status $auth_jwt_status sub=$jwt_claim_sub iss=$jwt_claim_iss';
    map $jwt_claim_iss $iss_ok {
        "https://idp.example"  1;
    }
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_require $iss_ok error=403;
        access_log $TEST_NGINX_SERVER_ROOT/logs/access.log jwt;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vZXZpbC5leGFtcGxlIiwic3ViIjoiZXZlIn0.je6sr5HvHzB8e3yCmJdrKjuIJIavpEcr9qlMpAzUlx6UrBxXSZXCRYTbUacPzvbkDunoKsv8HhwJ5e7DpgJe_ExtC4z_tlnOxr_zdTD9BjAglfkFDXqkv-q1dX2WQ71OZ4x_dxnTowJmUPeO-v9WCT6FM2iVRr6liyWjDIcGKkHIBvauSL6ONcCrR7gQC5IJkAcLZWLeV35oEjzP7WfCyl1ncaonJEbeyFsNzJmHCJU4duoijuhHu0mJ6ql5F256jZrYi1ca6P98UljzVhnn6AcilRXf8txKothiI6BggHh3jKcCQpThSEKTE2DYCkBmDh9C7qHso9eabSSJW9HUsQ
--- request
GET /t
--- error_code: 403
--- access_log
JWT 403 require_failed sub=eve iss=https://evil.example



=== TEST 12: access_log of a request without token
--- http_config
    log_format jwt 'JWT $status $auth_jwt_status sub=$jwt_claim_sub';
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 /401.html;
        access_log $TEST_NGINX_SERVER_ROOT/logs/access.log jwt;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location = /401.html {
        access_log $TEST_NGINX_SERVER_ROOT/logs/access.log jwt;
        return 401 '{"error": "Invalid or missing token"}';
    }
--- user_files eval
main::key_files("rsa.pub")
--- request
GET /t
--- error_code: 401
--- response_body chomp
{"error": "Invalid or missing token"}
--- access_log
JWT 401 missing sub=-



=== TEST 13: requests on one keep-alive connection never see each other's token
--- config
    location /echo {
        return 200 "$http_x_vars\n";
    }
    location @denied {
        return 401 "status=[$auth_jwt_status] sub=[$jwt_claim_sub]\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Vars "status=[$auth_jwt_status] sub=[$jwt_claim_sub]";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /open {
        proxy_set_header X-Vars "status=[$auth_jwt_status] sub=[$jwt_claim_sub]";
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- pipelined_requests eval
["GET /t", "GET /t", "GET /open", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGkiLCJleHAiOjQxMDI0NDQ4MDAsImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUiLCJzdWIiOiJhbGljZSJ9.aIubIt6I0fVX8WJ1EBbIuhCin6rLVnQQI0CRZyY0hI1csveaGilFUl7HH8s_qeLUG4efhnfWaRG40yKLZLueMt5RFD_ox2uDFVN9pLF3C6K-c8MRd2wiSNHKLQZ5cLOt6TPRrIBorpvjADTbS-kr5Zd-R-SnvlFFGqLklamZJ2y1mqGuWBxnG59zNdM8nRSolnDLD5hlTMZvNnuadxjOKQiqqPR_3YxxCMX7889_k0r87E3UV0Ix6oR6RjQuREJUgayCxvPdfPP5Yjm2uNaza4C75kAjit3cAhqIc9sZWabEGEqAewLEnOgytuUfUueHshmVitzqqa_C8HUQN1NZ1Q",
"",
"",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjEwMDAwMDAwMDAsInN1YiI6ImFsaWNlIn0.Gr1cr_N1WMSwVg8F_qeu-Ff_cOshNYaVn2OTqWuVLmvRq_wsLZLRwlsRMg2BjKTlANlbvoIJGNad1xlNnyMCaOyP0RKiJipIohUR5sMKWVYXVjSrbUopHtMBPfwJS7IDGlE3t3O_-F9Ep2M-PCA_ztLr9mox-icMYSMgCG7ssRedYaoClqddXWxsXqeIfTqG-hyMHXfqNzTKhV-FXEQPZmujTSTdC-f6zQM-zutZ8UtZnFDj7HE1Bt3olyF_O_MrozW7zQdPZoncZ88bbQhxMPUE4MpuvpePYGiPRtyeGgwJsKPnDNfTvg_kH2__s2QyjJbIw3X2XA7oitJ_sGm2Aw",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJib2IifQ.A0jVxi7gL-stibpWafglstrZCbLKJ-XOfqR8zS3E-nzVcgWiSAOLp3GpllqlYHUCBynMJXXm2Sp-8hiC_9uIn2ubTm0GKxHIFxqb07SkZmjDFcN--1u4gSM3kSkyap4FTvsAj5lIP1Di-jx2sebcglyhgEojcnmTcn_om7-Tjl4h4tIYXmsYM6CH7u2D9_FY1M6QE4Ub-nf2ssqldaPJuvsh3Ejd-2IbGxqrtL_h86l9z0wgx3K0LL9M0Gaf_hbhOSYJDTK_7RNVlise6x8X51k6rsaCXv5u_MI61rqmD9zF1FSzTgsnIJ3-_cnGSNvPwFyeMotsseJz4g05RRWmUw",
]
--- error_code eval
[200, 401, 200, 401, 200]
--- response_body eval
[
"status=[valid] sub=[alice]\n",
"status=[missing] sub=[]\n",
"status=[] sub=[]\n",
"status=[expired] sub=[]\n",
"status=[valid] sub=[bob]\n",
]



=== TEST 14: a claim with CR/LF or NUL is not exposed, so it cannot split a proxied header
--- config
    location /echo {
        return 200 "user=[$http_x_user_id] injected=[$http_x_injected] name=[$http_x_name]\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-User-ID $jwt_claim_sub;
        proxy_set_header X-Name $jwt_claim_name;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZVxyXG5YLUluamVjdGVkOiB5ZXMiLCJuYW1lIjoiQm9iXHUwMDAwIiwiZXhwIjo0MTAyNDQ0ODAwfQ.XwU9BtrN_-Rd4AFsGYbGuA1aSDMP4T8rspGQefJuTpE-TvFOEGy8nx4MflTVvFTqu1YQJXfub5QXyKqzgPdvSAexcfHBGeQ81QEbgeOKtlF02DirmHQObh1i-1IdL1Bwwc1sP4AMSLm5XVwby0qOoxkxB4161_CTE6RnAKWbAJ4-ago1rXonWr0OA2rWyCUP6gmH6Y9gKXC--WGtnDd_IPzDypz_21SFfZBfC31U5ZEFsAMQeQJIg4X_ubgf5iDVG0uPNzvAqFS7k_NlLmcqTaSlUyCuJpUqTbXJw3eK5oqkKYlTvcAmg8rBpQ3dcd9K9RF9dQxcalQz4cV74834Ww
--- request
GET /t
--- error_code: 200
--- response_body
user=[] injected=[] name=[]
--- no_error_log
[error]
