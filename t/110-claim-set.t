# auth_jwt_claim_set / auth_jwt_header_set (NGINX Plus): a variable that reads a member by
# a path of names from the root into nested objects, rendered like $jwt_claim_*.
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), key_files(): the keys of t/keys, read at run time

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: Keycloak realm_access roles, nested client roles, header members, absent paths
--- http_config
    auth_jwt_claim_set $jwt_roles realm_access roles;
    auth_jwt_claim_set $jwt_account_roles resource_access account roles;
    auth_jwt_claim_set $jwt_missing realm_access nothing here;
    auth_jwt_claim_set $jwt_user sub;
    auth_jwt_claim_set $jwt_name name;
    auth_jwt_header_set $jwt_alg alg;
    auth_jwt_header_set $jwt_kid kid;
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "roles=[$jwt_roles] account=[$jwt_account_roles] missing=[$jwt_missing] user=[$jwt_user] name=[$jwt_name] alg=[$jwt_alg] kid=[$jwt_kid]\n";
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCIsImtpZCI6InJzYSJ9.eyJzdWIiOiJrYy11c2VyIiwicmVhbG1fYWNjZXNzIjp7InJvbGVzIjpbIm9mZmxpbmVfYWNjZXNzIiwidW1hX2F1dGhvcml6YXRpb24iXX0sInJlc291cmNlX2FjY2VzcyI6eyJhY2NvdW50Ijp7InJvbGVzIjpbIm1hbmFnZS1hY2NvdW50Iiwidmlldy1wcm9maWxlIl19fSwibmFtZSI6IkFublxuWC1FdmlsOiAxIiwiZXhwIjo0MTAyNDQ0ODAwfQ.cw7JHMbqfoUSAni3ZdRyKsCFErrv5vjAK6C8-hFRPoss3dzYvOZAXabz1YqEvanGJAFSz10LfJj_wKdjv4BQuwKGsWF2H1GUQfe48a-zJlZi2GtUJKnbnQ50a6GMsmREkwQwnwOQgz4D5T6ZkYPWL0hXr_RIlSkMx59tgQGwaLOcuzKzvsRSXsbPDYmEzmE05uaCRf2Bh_rdkJwRHTrvuMdHWxm0y3mdCQ16ODGWc9rzKJCwIKyGpqy0WFJodm0_Vu9DG1iVAFvihdgwc1RXY25RRdIpg26S4HPLCFq-Ohqm2_oQGT7jFY0SbPaZ2Z34G-pKcwzYQnwOmoR-vwYjdg
--- request
GET /t
--- error_code: 200
--- response_body
roles=[offline_access,uma_authorization] account=[manage-account,view-profile] missing=[] user=[kc-user] name=[] alg=[RS256] kid=[rsa]



=== TEST 2: the variables are empty when no token was checked
--- http_config
    auth_jwt_claim_set $jwt_roles realm_access roles;
--- config
    location /t {
        return 200 "roles=[$jwt_roles]\n";
    }
--- request
GET /t
--- error_code: 200
--- response_body
roles=[]



=== TEST 3: the first parameter must be a variable
--- http_config
    auth_jwt_claim_set jwt_roles realm_access roles;
--- config
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_claim_set: the first parameter must be a variable, e\.g\. \$jwt_roles in /



=== TEST 4: only in the http context
--- config
    auth_jwt_claim_set $jwt_roles realm_access roles;
--- must_die
--- error_log eval
qr/\[emerg\] .*"auth_jwt_claim_set" directive is not allowed here in /
