# Algorithms: every supported alg verifies, a tampered token of each family is
# refused, "none" and unknown algs are refused, the key type must fit the alg
# (no HMAC with an RSA public key as secret), and JWK "alg", "use" and
# "key_ops" restrict what a key may verify.
#
# Tokens are static, minted once with the test-only keys of t/keys (make.sh)
# and core's jwt-mint; "exp" 4102444800 is 2100-01-01.  A refused request is
# sent to @denied (error_page 401 = @denied), which shows $auth_jwt_status.

use Test::Nginx::Socket 'no_plan';
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key_files(), jwk(), jwks(): the keys of t/keys, read at run time

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

# Key files: those of t/keys (key_files() reads them at run time) and these, assembled
# from them with the members the blocks need.
add_files(
    'rsa_rs256.jwk'      => jwk('rsa', alg => 'RS256') . "\n",
    'rsa_ps256.jwk'      => jwk('rsa', alg => 'PS256', use => 'sig') . "\n",
    'rsa_sign_ops.jwk'   => jwk('rsa', key_ops => ['sign']) . "\n",
    'rsa_verify_ops.jwk' => jwk('rsa', key_ops => ['verify']) . "\n",
    'rsa_use_foo.jwk'    => jwk('rsa', use => 'foo') . "\n",
    'hmac_hs512.jwk'     => jwk('hmac', alg => 'HS512') . "\n",
    'rsa_es256.jwk'      => jwk('rsa', alg => 'ES256') . "\n",
    'ec256_es384.jwk'    => jwk('ec256', alg => 'ES384') . "\n",
    # a 16-byte HMAC secret (test data, not a key of t/keys): refused at load
    'short.jwk'          => '{"kty": "oct", "k": "MDEyMzQ1Njc4OWFiY2RlZg"}' . "\n",
);

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: RS256, RS384 and RS512
--- config
    location /echo {
        return 200 "sub=$http_x_sub alg=$http_x_alg\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Alg $jwt_header_alg;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1SUzI1NiJ9.nlHtdoWEgZ189J5sG4ovYrKbgiMpEhbEtve5vPBQE_pRpBMnkxBVxhgvfQ5ZFvU32N8S-rmf3E_vGv02xysAvvthPcog8QrC_-YQOG9HjuZSUnO99gp-90LhBpUT1J8JsL_efo0293msSUuvnMVnW-ex-OImm56t4IhH0XgqDfbF_5LcM4GqMyzYFUlN9-FxjmNzlTGSm1uT9H5a6IZnIs8en9EVvMeC3MEogncy-VHJZ7DsEaRY3O5cLiGE52EBWWD5p5bWTNuaMVH7PKBGLfwRXCy0DGa9MbEOAymqs4jm2MEelTvAbe-l6fhCMGFQmbzgMmhMczXjgfXdX_ySWw",
"Authorization: Bearer eyJhbGciOiJSUzM4NCIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1SUzM4NCJ9.GyhI1mKT-t9AusZFNPzshFJ3ZgNVKJ2RsEwE2RV0E869kJloAShVAyAEKXT12I6Z_BkYwnu9znU3xB68qnhnTKM4mO1b-cH-vBHJK_t_vX6Cj0759tf7h60sKMrlHkgQA7u2oYI7KyGftypqxJpxDH37tGIQAaw2kFDCpz7JYZioChys9UgFYASMx8TzmY12eYxiABTx1bRkekVpCgFqmqjhoeSUaZjHsXtlZ5RUGjuJUrl3taGy5muKF036h2MiQYfjDJFrsao1vDTHif910hU2uVLgoGBlIhmJBUaUbynFduIyIegtK7_dUwa2Xr9g1S5W7QbHFKLTjTJS_bWNvA",
"Authorization: Bearer eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1SUzUxMiJ9.IjlJbIuZoYm0zxqTQrPoqmvPSBusnyeAe0dRuoXn0OKV4BePlFY80DqNQgm29fDZ8yRpa-nXvJkzDqCyHuY5UkiTWdZfBqRs8Q0yAeu-yd0o1zVw2qCPYmXerNuMZ6opLk9It1ImOO-gkf7dLhSZmCI3jm49tt0U5UQ3VA68MYdydeNBvcjxLNLiy4xBv6taBPMHL13mf4zVzrkmfI0myJP24_AZplawc029C-a5WsIiFlHWJ_fRctKVfF3vsx-zFLnxQQ3SQCHOOhqFoLhxCGzhRbMgk-LxCKeHFBOapIMPjmAv8TaFI8USzTNU5jwhtkQOdgU3qEBabWee-TUvyA",
]
--- error_code eval
[200, 200, 200]
--- response_body eval
["sub=alg-RS256 alg=RS256\n", "sub=alg-RS384 alg=RS384\n", "sub=alg-RS512 alg=RS512\n"]
--- no_error_log
auth_jwt:



=== TEST 2: PS256, PS384 and PS512 with the same RSA key
--- config
    location /echo {
        return 200 "sub=$http_x_sub alg=$http_x_alg\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Alg $jwt_header_alg;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1QUzI1NiJ9.nsDDBJGT6KH2xZ4msF_eaaKIS6ikVWp1YRtcUl3qpTBkYr6lt-A49aDDPnxcpsFEej-mfPAVRjwjwjuC70Vq69TS-xvfyghTjxhKdE3pqzBGbShLva_FSnoRaPDiD1HT1Jm9ccAz9KCNqp0i7YeznUXVe3IiO_OTeEtTyZwVyENqOzp04aVJlupoqsA55lbAs1yhzVG4MeAyyQAj8vzFaNsJMp5Z15Kn3zvVoVFglBp_soQtLCPoQ5Wskr-S063AZ64vcm6Dvn8S4umZegLfjQQrqNCP3W_P-qcZIrPHm8oIx6PecCqyU6AB68FUZMHrZAyRoZp4qWR2GaFLXSEvUg",
"Authorization: Bearer eyJhbGciOiJQUzM4NCIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1QUzM4NCJ9.Ry6dN2-E8Rwjf1jAilIPz38HjcfaTKLqPmz84H7WOrz840LktMw9DbZUvDbTwM0G01ZPKMmQ3_uMCfbYxDamQVMyhfkQxKPsDTxWczmKmSZ3cr_S82Vw1W5wmeauuZTGOofqgmT1NBoGnOl2PYsetNY1sbKvMNukeBs8Rop-hutUWX1MzKnqOOZ0DzWoEal40NyAEbfDfiWjuSi3GyTJn1_rDjUgWOVGs1SAgGix2n-wjXokLWr2pyIqdFfh3_f47LFLqhDYrJcLMORy8OpM7-jmT6EFeGFVY7DI9DdzSpCeevdNNbhYFAxTOZ4jmEjVqY1Uj3TCChdixuU3fcTLiQ",
"Authorization: Bearer eyJhbGciOiJQUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1QUzUxMiJ9.Svb5Uvf1iQ7xXJMwNL-SYtJ4KHiLE4pPcnjqngeDIds3E974d0VqSlFgb0HMDU-ymLCfdCTcyVvNWxcesBCRNhVXDIfNEl1D7iOblO0RwrIJJ_2B2LT6dnTbfAj9iJDFK6_6Ufh-1_v2TxT5GFKn4e2b7Pjz5QNJOnUdpwxfrAY-QWtYFKCixlmej3fSxmOtmgOB9uWPhowCYPsjJbYkGEP-UqwZIP6VR9uUHseg4071h9SycdLQxfznmYHh_aYy3JYtsagvlzH_5yvVOu70IhuB5d3XbY2JZxm05Qg8iPjRaZiSBwO-zweIwjwlb7AxSpaVX-xAiAtwNk-Vi8iATw",
]
--- error_code eval
[200, 200, 200]
--- response_body eval
["sub=alg-PS256 alg=PS256\n", "sub=alg-PS384 alg=PS384\n", "sub=alg-PS512 alg=PS512\n"]
--- no_error_log
auth_jwt:



=== TEST 3: ES256 (P-256), ES384 (P-384) and ES512 (P-521)
--- config
    location /echo {
        return 200 "sub=$http_x_sub alg=$http_x_alg\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /p256 {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Alg $jwt_header_alg;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /p384 {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec384.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Alg $jwt_header_alg;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /p521 {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec521.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Alg $jwt_header_alg;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ec256.pub", "ec384.pub", "ec521.pub")
--- request eval
["GET /p256", "GET /p384", "GET /p521"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzI1NiJ9.Re1bEpJ7K8bE0AsxpFcztHzVwmjXgmlXqQa-2e8ijs0fuBYxXxQnY4QUa8KTbx5usIg6EQ26yo_hX3LwTsjPSg",
"Authorization: Bearer eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzM4NCJ9._zYt0V7-ma6ZDi6D3rwaVzWCR28mTrTKVxNr3jVRN-oDgDcPm2IU7yCQ9wVXVyGQobrtBnyjZICT8YJMBLQq0PrioIiUMHLxT2_VkS2iakDuPkZEB1d6G4517qPUSwjF",
"Authorization: Bearer eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzUxMiJ9.AUv4eWEShyfTigxeKlPqMYP5fQvE35bYq5gC8ImBD-uJTV1bu4HCGwf3vI15tlwm_eTjMAdvMIBzj9LF1v_M2AHfADbByA8uddpazmSW4kY9OiTJyjlKDoDdRo-t-Hn1MmgXzO-RiibRMpiW-JhsXLa8k7kQb8VPAVmnZH1_Vmy6Oa9A",
]
--- error_code eval
[200, 200, 200]
--- response_body eval
["sub=alg-ES256 alg=ES256\n", "sub=alg-ES384 alg=ES384\n", "sub=alg-ES512 alg=ES512\n"]
--- no_error_log
auth_jwt:



=== TEST 4: EdDSA with Ed25519 and Ed448 keys in one location
--- config
    location /echo {
        return 200 "sub=$http_x_sub alg=$http_x_alg\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ed25519.pub;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ed448.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Alg $jwt_header_alg;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("ed25519.pub", "ed448.pub")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FZDI1NTE5In0.aAHXMk6abwLZlrDt-5zv03VOxIeyd8KUNED7OmbCMuhWA-Vlctbf1jR-DDEgh_YP7NsOVMn4TD5YxowFgOWUDg",
"Authorization: Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FZDQ0OCJ9.IoleChcEE_-49fVPEvoz4YjeTEuZeAhhIVooDf9Mv3npi5kaxzaA2la2dNd32mwz2JqVjyRmFMsAsXEoq8rBh--4x3fakMlWlIbll4H1bRRFEcdhfhC2qscy0JbqWBMxAergj7gB48DNyTd3xfwzRQgA",
]
--- error_code eval
[200, 200]
--- response_body eval
["sub=alg-Ed25519 alg=EdDSA\n", "sub=alg-Ed448 alg=EdDSA\n"]
--- no_error_log
auth_jwt:



=== TEST 5: HS256, HS384 and HS512 with a JWK of kty "oct"
--- config
    location /echo {
        return 200 "sub=$http_x_sub alg=$http_x_alg\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_set_header X-Alg $jwt_header_alg;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("hmac.jwk")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1IUzI1NiJ9.YTWhZrU5U0hfrVXLV3TRKTsARm-6hF4PQU9pjwZ8T_s",
"Authorization: Bearer eyJhbGciOiJIUzM4NCIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1IUzM4NCJ9.UjQMJl39b9LK629MsxHEg6YudawaCKEOijbKqjBf0rySY295dOPomsLw_iajgakM",
"Authorization: Bearer eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1IUzUxMiJ9.DpNfwK3WkOu1MKQJ_mLWdI0wntzcG0R8yX4GMOpgFkX2sTfRBBGiwJMLymr3DUrd40kY3X-5Wp5EbTISKULEdg",
"Authorization: Bearer eyJhbGciOiJIUzI1NiIsImtpZCI6ImhtYWMiLCJ0eXAiOiJKV1QifQ.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1obWFjIn0.qWsN1xpJTZ2LtI8boudAMn45yjuHa8DeBzpesXojekI",
]
--- error_code eval
[200, 200, 200, 200]
--- response_body eval
["sub=alg-HS256 alg=HS256\n", "sub=alg-HS384 alg=HS384\n", "sub=alg-HS512 alg=HS512\n", "sub=kid-hmac alg=HS256\n"]
--- no_error_log
auth_jwt:
[warn]



=== TEST 6: a tampered payload is refused for every family (and a DER ECDSA signature too)
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        # every key of jwks.json, and hmac.jwk from a file of its own (a JWKS with
        # public keys must not hold an oct key)
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/jwks.json;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("jwks.json", "hmac.jwk")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFkbWluIn0.nlHtdoWEgZ189J5sG4ovYrKbgiMpEhbEtve5vPBQE_pRpBMnkxBVxhgvfQ5ZFvU32N8S-rmf3E_vGv02xysAvvthPcog8QrC_-YQOG9HjuZSUnO99gp-90LhBpUT1J8JsL_efo0293msSUuvnMVnW-ex-OImm56t4IhH0XgqDfbF_5LcM4GqMyzYFUlN9-FxjmNzlTGSm1uT9H5a6IZnIs8en9EVvMeC3MEogncy-VHJZ7DsEaRY3O5cLiGE52EBWWD5p5bWTNuaMVH7PKBGLfwRXCy0DGa9MbEOAymqs4jm2MEelTvAbe-l6fhCMGFQmbzgMmhMczXjgfXdX_ySWw",
"Authorization: Bearer eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFkbWluIn0.nsDDBJGT6KH2xZ4msF_eaaKIS6ikVWp1YRtcUl3qpTBkYr6lt-A49aDDPnxcpsFEej-mfPAVRjwjwjuC70Vq69TS-xvfyghTjxhKdE3pqzBGbShLva_FSnoRaPDiD1HT1Jm9ccAz9KCNqp0i7YeznUXVe3IiO_OTeEtTyZwVyENqOzp04aVJlupoqsA55lbAs1yhzVG4MeAyyQAj8vzFaNsJMp5Z15Kn3zvVoVFglBp_soQtLCPoQ5Wskr-S063AZ64vcm6Dvn8S4umZegLfjQQrqNCP3W_P-qcZIrPHm8oIx6PecCqyU6AB68FUZMHrZAyRoZp4qWR2GaFLXSEvUg",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFkbWluIn0.Re1bEpJ7K8bE0AsxpFcztHzVwmjXgmlXqQa-2e8ijs0fuBYxXxQnY4QUa8KTbx5usIg6EQ26yo_hX3LwTsjPSg",
"Authorization: Bearer eyJhbGciOiJFUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFkbWluIn0.AUv4eWEShyfTigxeKlPqMYP5fQvE35bYq5gC8ImBD-uJTV1bu4HCGwf3vI15tlwm_eTjMAdvMIBzj9LF1v_M2AHfADbByA8uddpazmSW4kY9OiTJyjlKDoDdRo-t-Hn1MmgXzO-RiibRMpiW-JhsXLa8k7kQb8VPAVmnZH1_Vmy6Oa9A",
"Authorization: Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFkbWluIn0.aAHXMk6abwLZlrDt-5zv03VOxIeyd8KUNED7OmbCMuhWA-Vlctbf1jR-DDEgh_YP7NsOVMn4TD5YxowFgOWUDg",
"Authorization: Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFkbWluIn0.IoleChcEE_-49fVPEvoz4YjeTEuZeAhhIVooDf9Mv3npi5kaxzaA2la2dNd32mwz2JqVjyRmFMsAsXEoq8rBh--4x3fakMlWlIbll4H1bRRFEcdhfhC2qscy0JbqWBMxAergj7gB48DNyTd3xfwzRQgA",
"Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFkbWluIn0.YTWhZrU5U0hfrVXLV3TRKTsARm-6hF4PQU9pjwZ8T_s",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImRlciJ9.MEUCIHAON2fXQKNN7cM0qyR4VVOloMo4lCHMgAAG8vTiiEUHAiEAgPgOaGqGkOISxtkft-ZcVN1aS3LzHvTCgnm-4rz7nf4",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzI1NiJ9.Re1bEpJ7K8bE0AsxpFcztHzVwmjXgmlXqQa-2e8ijs0fuBYxXxQnY4QUa8KTbx5usIg6EQ26yo_hX3LwTsjPSg",
]
--- error_code eval
[401, 401, 401, 401, 401, 401, 401, 401, 200]
--- response_body eval
["denied: bad_signature\n", "denied: bad_signature\n", "denied: bad_signature\n", "denied: bad_signature\n",
 "denied: bad_signature\n", "denied: bad_signature\n", "denied: bad_signature\n", "denied: bad_signature\n",
 "sub=alg-ES256\n"]



=== TEST 7: alg "none" is refused in every spelling, with or without a signature
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        # every key of jwks.json, and hmac.jwk from a file of its own (a JWKS with
        # public keys must not hold an oct key)
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/jwks.json;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("jwks.json", "hmac.jwk")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.",
"Authorization: Bearer eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl",
"Authorization: Bearer eyJhbGciOiJOb25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl",
"Authorization: Bearer eyJhbGciOiJuT25FIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl",
]
--- error_code eval
[401, 401, 401, 401]
--- response_body eval
["denied: malformed\n", "denied: unsupported_alg\n", "denied: unsupported_alg\n", "denied: unsupported_alg\n"]



=== TEST 8: alg "none": 401 invalid_token and its own log line
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJOb25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.c2lnbmF0dXJl
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="test", error="invalid_token"
--- error_log
auth_jwt: alg "none" is not accepted (unsupported_alg), client: 127.0.0.1, request: "GET /t"



=== TEST 9: unknown, wrongly cased, missing and non-string algs are unsupported
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJyczI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.SQscHueIVPO6v_QQHp9j00lGACNVwAKIfHB4hMX1DZzllmjx64eMbhyFwoirMoYXb7t_5WrqiHW3jNHAPpyjm5osS2VLWZe-n4xRglt9Q9K7uNRd49tyUqA8FfjwhkLJZo2p8dix-BtifUNI26o4YtnLIUnEKdUWUlMx38NC2V32wBtk2AxM8akIFdS2Vm_S5zHQwvyz546eAxdzzhS8s4GS7hDLKPZ1h2cogIeU5uWRkkcVxfIvtyC0_G64CaZMAF2LAAh30UZre_j1GxWF1GFDPaDJqnSGLSOQeSyxxcIVcSGDxsHkWQNqu07i9vLc6gD8-ns_DFA44XZl25cDFQ",
"Authorization: Bearer eyJhbGciOiJSUzEwMjQiLCJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.e5ui0g-Qaw3TZRBY-x1PZdXn1fZ-Z-nKw9_eUjLuJbI7aOQ9H--zpW3uCCfFmOJqslQ5ZpuS-RIzZhilbFA_hkeNA9L4zklefiCAbX7NlZsw72ViORTohv3Rk_jYH0EUz6ESW9Cjuevu2_zMzgHBp3TnZmA_V3PXGR8etglmD7a5U4PpH6Yit5r6HcONe9FObTUUlQOGNXgqL04Fa5qApxc0vdnYLdBNn_QOwL5mtEBdZGMZVz7NSMFYVgM1dwAbrxzZZ184hB6Wcp4RKkQZ7YGBEMgzfGJMq4gVczBFooe0psX8qHv6pYs3dpbG3_BW-yhY9M-8ktxxUEpacwPH_g",
"Authorization: Bearer eyJ0eXAiOiJKV1QifQ.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.cFyr_C70BTsa6bS4hiThMTrHqP49SwnpnpjaJOl5ySK4XrQ7y0jFIvUHAYvESA_EJ0gZU3mHyqgeAYqz1kBFXoI9lPE0b0GKFygvR5CKcGArXptt5-vuLJIrk9zycYmDhGKcW1jcXSIPawdyc5tNZ8Lv1NhcEKEZWtuzaB_xyRhhX5WQI7NwGnJ_A3TTlzpfozvX_yz-MyacYpSEOUVaMVfS5ORaUsfp3eWI-K8S1d54M_K5M-gs1iQv2mL0uW3OaOpIA3_zuuOVU7WRn5qoGH05pHyaFTum9jICHW2tFWafo929jl0OwQI6rt26BvAy5vOFAik_oaMOYE0gq7DI6g",
"Authorization: Bearer eyJhbGciOjI1NiwidHlwIjoiSldUIn0.eyJzdWIiOiJhZG1pbiIsImV4cCI6NDEwMjQ0NDgwMH0.nEO9NjZJSETwGQRKSXvOuwJq_RixLPORqY72wI0KmQFjcxkZWYuehrVYqD5bayPFLxHrrwxFIWmX_t6DABGFvLOHRG0GyEwsJ_XS2Dpk2T8sO_7cx_2Wmw7ssuSBROiEaW5IpaIu6t3y-pnr-ZFXVMj4zE7Gzq2WK4k6YXNE--RQ1d65b4OSHDCx1IbGDj0jVOUIZbc3BbxYZEF5QIxeDo_9kh25mb-MkU4hvo-lr9qdIQgcghq9BUSu6K1GbRO_RgkWLl_tUlRFdo9q15tp4I4mX6cMqUaiqK4KuQ7rJSVVLSZzqQRfeOnKX-auDRXFk0u32EMofR4J-tBKx0m8xw",
]
--- error_code eval
[401, 401, 401, 401]
--- response_body eval
["denied: unsupported_alg\n", "denied: unsupported_alg\n", "denied: unsupported_alg\n", "denied: unsupported_alg\n"]



=== TEST 10: HS256 keyed with the RSA public key PEM (alg confusion) finds no key
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub")
--- more_headers
Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFkbWluIn0.qnHO9w5X5GEyrHQvi7IjAcCFAYH1N89TGirf0eLpsJM
--- request
GET /t
--- error_code: 401
--- response_headers
WWW-Authenticate: Bearer realm="test", error="invalid_token"
--- error_log
auth_jwt: no key usable with the token alg (no_key), client: 127.0.0.1, request: "GET /t"



=== TEST 11: the key type (and EC curve) must fit the alg
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /rsa {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /ec {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.pub;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /oct {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa.pub", "ec256.pub", "hmac.jwk")
--- request eval
["GET /rsa", "GET /rsa", "GET /ec", "GET /ec", "GET /ec", "GET /oct", "GET /oct"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzI1NiJ9.Re1bEpJ7K8bE0AsxpFcztHzVwmjXgmlXqQa-2e8ijs0fuBYxXxQnY4QUa8KTbx5usIg6EQ26yo_hX3LwTsjPSg",
"Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1IUzI1NiJ9.YTWhZrU5U0hfrVXLV3TRKTsARm-6hF4PQU9pjwZ8T_s",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1SUzI1NiJ9.nlHtdoWEgZ189J5sG4ovYrKbgiMpEhbEtve5vPBQE_pRpBMnkxBVxhgvfQ5ZFvU32N8S-rmf3E_vGv02xysAvvthPcog8QrC_-YQOG9HjuZSUnO99gp-90LhBpUT1J8JsL_efo0293msSUuvnMVnW-ex-OImm56t4IhH0XgqDfbF_5LcM4GqMyzYFUlN9-FxjmNzlTGSm1uT9H5a6IZnIs8en9EVvMeC3MEogncy-VHJZ7DsEaRY3O5cLiGE52EBWWD5p5bWTNuaMVH7PKBGLfwRXCy0DGa9MbEOAymqs4jm2MEelTvAbe-l6fhCMGFQmbzgMmhMczXjgfXdX_ySWw",
"Authorization: Bearer eyJhbGciOiJFUzM4NCIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzM4NCJ9._zYt0V7-ma6ZDi6D3rwaVzWCR28mTrTKVxNr3jVRN-oDgDcPm2IU7yCQ9wVXVyGQobrtBnyjZICT8YJMBLQq0PrioIiUMHLxT2_VkS2iakDuPkZEB1d6G4517qPUSwjF",
"Authorization: Bearer eyJhbGciOiJFZERTQSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FZDI1NTE5In0.aAHXMk6abwLZlrDt-5zv03VOxIeyd8KUNED7OmbCMuhWA-Vlctbf1jR-DDEgh_YP7NsOVMn4TD5YxowFgOWUDg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1SUzI1NiJ9.nlHtdoWEgZ189J5sG4ovYrKbgiMpEhbEtve5vPBQE_pRpBMnkxBVxhgvfQ5ZFvU32N8S-rmf3E_vGv02xysAvvthPcog8QrC_-YQOG9HjuZSUnO99gp-90LhBpUT1J8JsL_efo0293msSUuvnMVnW-ex-OImm56t4IhH0XgqDfbF_5LcM4GqMyzYFUlN9-FxjmNzlTGSm1uT9H5a6IZnIs8en9EVvMeC3MEogncy-VHJZ7DsEaRY3O5cLiGE52EBWWD5p5bWTNuaMVH7PKBGLfwRXCy0DGa9MbEOAymqs4jm2MEelTvAbe-l6fhCMGFQmbzgMmhMczXjgfXdX_ySWw",
"Authorization: Bearer eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1FUzI1NiJ9.Re1bEpJ7K8bE0AsxpFcztHzVwmjXgmlXqQa-2e8ijs0fuBYxXxQnY4QUa8KTbx5usIg6EQ26yo_hX3LwTsjPSg",
]
--- error_code eval
[401, 401, 401, 401, 401, 401, 401]
--- response_body eval
["denied: no_key\n", "denied: no_key\n", "denied: no_key\n", "denied: no_key\n", "denied: no_key\n",
 "denied: no_key\n", "denied: no_key\n"]



=== TEST 12: a JWK "alg" restricts the key to that alg
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location @denied {
        return 401 "denied: $auth_jwt_status\n";
    }
    location /rs256 {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_rs256.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /ps256 {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_ps256.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
    location /hs512 {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/hmac_hs512.jwk;
        error_page 401 = @denied;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa_rs256.jwk", "rsa_ps256.jwk", "hmac_hs512.jwk")
--- request eval
["GET /rs256", "GET /rs256", "GET /rs256", "GET /ps256", "GET /ps256", "GET /hs512", "GET /hs512"]
--- more_headers eval
[
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1SUzI1NiJ9.nlHtdoWEgZ189J5sG4ovYrKbgiMpEhbEtve5vPBQE_pRpBMnkxBVxhgvfQ5ZFvU32N8S-rmf3E_vGv02xysAvvthPcog8QrC_-YQOG9HjuZSUnO99gp-90LhBpUT1J8JsL_efo0293msSUuvnMVnW-ex-OImm56t4IhH0XgqDfbF_5LcM4GqMyzYFUlN9-FxjmNzlTGSm1uT9H5a6IZnIs8en9EVvMeC3MEogncy-VHJZ7DsEaRY3O5cLiGE52EBWWD5p5bWTNuaMVH7PKBGLfwRXCy0DGa9MbEOAymqs4jm2MEelTvAbe-l6fhCMGFQmbzgMmhMczXjgfXdX_ySWw",
"Authorization: Bearer eyJhbGciOiJSUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1SUzUxMiJ9.IjlJbIuZoYm0zxqTQrPoqmvPSBusnyeAe0dRuoXn0OKV4BePlFY80DqNQgm29fDZ8yRpa-nXvJkzDqCyHuY5UkiTWdZfBqRs8Q0yAeu-yd0o1zVw2qCPYmXerNuMZ6opLk9It1ImOO-gkf7dLhSZmCI3jm49tt0U5UQ3VA68MYdydeNBvcjxLNLiy4xBv6taBPMHL13mf4zVzrkmfI0myJP24_AZplawc029C-a5WsIiFlHWJ_fRctKVfF3vsx-zFLnxQQ3SQCHOOhqFoLhxCGzhRbMgk-LxCKeHFBOapIMPjmAv8TaFI8USzTNU5jwhtkQOdgU3qEBabWee-TUvyA",
"Authorization: Bearer eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1QUzI1NiJ9.nsDDBJGT6KH2xZ4msF_eaaKIS6ikVWp1YRtcUl3qpTBkYr6lt-A49aDDPnxcpsFEej-mfPAVRjwjwjuC70Vq69TS-xvfyghTjxhKdE3pqzBGbShLva_FSnoRaPDiD1HT1Jm9ccAz9KCNqp0i7YeznUXVe3IiO_OTeEtTyZwVyENqOzp04aVJlupoqsA55lbAs1yhzVG4MeAyyQAj8vzFaNsJMp5Z15Kn3zvVoVFglBp_soQtLCPoQ5Wskr-S063AZ64vcm6Dvn8S4umZegLfjQQrqNCP3W_P-qcZIrPHm8oIx6PecCqyU6AB68FUZMHrZAyRoZp4qWR2GaFLXSEvUg",
"Authorization: Bearer eyJhbGciOiJQUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1QUzI1NiJ9.nsDDBJGT6KH2xZ4msF_eaaKIS6ikVWp1YRtcUl3qpTBkYr6lt-A49aDDPnxcpsFEej-mfPAVRjwjwjuC70Vq69TS-xvfyghTjxhKdE3pqzBGbShLva_FSnoRaPDiD1HT1Jm9ccAz9KCNqp0i7YeznUXVe3IiO_OTeEtTyZwVyENqOzp04aVJlupoqsA55lbAs1yhzVG4MeAyyQAj8vzFaNsJMp5Z15Kn3zvVoVFglBp_soQtLCPoQ5Wskr-S063AZ64vcm6Dvn8S4umZegLfjQQrqNCP3W_P-qcZIrPHm8oIx6PecCqyU6AB68FUZMHrZAyRoZp4qWR2GaFLXSEvUg",
"Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1SUzI1NiJ9.nlHtdoWEgZ189J5sG4ovYrKbgiMpEhbEtve5vPBQE_pRpBMnkxBVxhgvfQ5ZFvU32N8S-rmf3E_vGv02xysAvvthPcog8QrC_-YQOG9HjuZSUnO99gp-90LhBpUT1J8JsL_efo0293msSUuvnMVnW-ex-OImm56t4IhH0XgqDfbF_5LcM4GqMyzYFUlN9-FxjmNzlTGSm1uT9H5a6IZnIs8en9EVvMeC3MEogncy-VHJZ7DsEaRY3O5cLiGE52EBWWD5p5bWTNuaMVH7PKBGLfwRXCy0DGa9MbEOAymqs4jm2MEelTvAbe-l6fhCMGFQmbzgMmhMczXjgfXdX_ySWw",
"Authorization: Bearer eyJhbGciOiJIUzUxMiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1IUzUxMiJ9.DpNfwK3WkOu1MKQJ_mLWdI0wntzcG0R8yX4GMOpgFkX2sTfRBBGiwJMLymr3DUrd40kY3X-5Wp5EbTISKULEdg",
"Authorization: Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImFsZy1IUzI1NiJ9.YTWhZrU5U0hfrVXLV3TRKTsARm-6hF4PQU9pjwZ8T_s",
]
--- error_code eval
[200, 401, 401, 200, 401, 200, 401]
--- response_body eval
["sub=alg-RS256\n", "denied: no_key\n", "denied: no_key\n", "sub=alg-PS256\n", "denied: no_key\n",
 "sub=alg-HS512\n", "denied: no_key\n"]



=== TEST 13: JWK "key_ops" without "verify": [warn] at startup, and the key never verifies
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_sign_ops.jwk;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa_sign_ops.jwk")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1yc2EifQ.lR1xT9Glz6wU2ciZ3XLj6Rfz2JJZUnFWROKvCnrpJFBO3CoFEDeWee53AT-_tOSHXNxDxDDL39vMnTr_pI0zKQt4AJ-RKd4Lm3nWRZnWGGl4px5W5nSQKiSEqHZ8Mqrl_xJSHzGDqX4lfP7brsBQvVEhj2MXKAQ5YIT_WMt3iZl0nQwv_PJbIPGfqZVbgiSeSE-RpNoFR_VNYwrpdc7OqCmrG4xe26aBRwblw-TbIOzE_oePL205R8jAkClXAd3gSPjJqGkuB6RC1k7m7rqRaD8Sk25fTFFAH4TlL0V0UuVKKiqFYGj8-sn7pvZGPrxN-37-AoPgc-MjZbdN6Q11yg
--- request
GET /t
--- error_code: 401
--- error_log eval
[
qr/\[warn\] .*auth_jwt_key_file: "\S+\/rsa_sign_ops\.jwk": JWK #1 has key_ops without "verify" and will never verify a signature/,
"auth_jwt: no key usable with the token alg (no_key)",
]



=== TEST 14: JWK "use" other than "sig": [warn] at startup, and the key never verifies
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_use_foo.jwk;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa_use_foo.jwk")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1yc2EifQ.lR1xT9Glz6wU2ciZ3XLj6Rfz2JJZUnFWROKvCnrpJFBO3CoFEDeWee53AT-_tOSHXNxDxDDL39vMnTr_pI0zKQt4AJ-RKd4Lm3nWRZnWGGl4px5W5nSQKiSEqHZ8Mqrl_xJSHzGDqX4lfP7brsBQvVEhj2MXKAQ5YIT_WMt3iZl0nQwv_PJbIPGfqZVbgiSeSE-RpNoFR_VNYwrpdc7OqCmrG4xe26aBRwblw-TbIOzE_oePL205R8jAkClXAd3gSPjJqGkuB6RC1k7m7rqRaD8Sk25fTFFAH4TlL0V0UuVKKiqFYGj8-sn7pvZGPrxN-37-AoPgc-MjZbdN6Q11yg
--- request
GET /t
--- error_code: 401
--- error_log eval
[
qr/\[warn\] .*auth_jwt_key_file: "\S+\/rsa_use_foo\.jwk": JWK #1 has use "foo" and will never verify a signature/,
"auth_jwt: no key usable with the token alg (no_key)",
]



=== TEST 15: JWK "key_ops" containing "verify" verifies normally, without warning
--- config
    location /echo {
        return 200 "sub=$http_x_sub\n";
    }
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_verify_ops.jwk;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_ps256.jwk;
        proxy_set_header X-Sub $jwt_claim_sub;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/echo;
    }
--- user_files eval
main::key_files("rsa_verify_ops.jwk", "rsa_ps256.jwk")
--- more_headers
Authorization: Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6InJzYSIsInR5cCI6IkpXVCJ9.eyJleHAiOjQxMDI0NDQ4MDAsInN1YiI6ImtpZC1yc2EifQ.lR1xT9Glz6wU2ciZ3XLj6Rfz2JJZUnFWROKvCnrpJFBO3CoFEDeWee53AT-_tOSHXNxDxDDL39vMnTr_pI0zKQt4AJ-RKd4Lm3nWRZnWGGl4px5W5nSQKiSEqHZ8Mqrl_xJSHzGDqX4lfP7brsBQvVEhj2MXKAQ5YIT_WMt3iZl0nQwv_PJbIPGfqZVbgiSeSE-RpNoFR_VNYwrpdc7OqCmrG4xe26aBRwblw-TbIOzE_oePL205R8jAkClXAd3gSPjJqGkuB6RC1k7m7rqRaD8Sk25fTFFAH4TlL0V0UuVKKiqFYGj8-sn7pvZGPrxN-37-AoPgc-MjZbdN6Q11yg
--- request
GET /t
--- error_code: 200
--- response_body
sub=kid-rsa
--- no_error_log
[warn]
auth_jwt:



=== TEST 16: an HMAC key shorter than the hash stops nginx -t (RFC 7518, section 3.2)
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/short.jwk;
    }
--- user_files eval
main::key_files("short.jwk")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/short\.jwk": JWK #1: HMAC key of 16 bytes is refused: HS256 needs at least 32 bytes \(RFC 7518, section 3\.2\) in \S+nginx\.conf:\d+/



=== TEST 17: a JWK whose "alg" does not fit its kty stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa_es256.jwk;
    }
--- user_files eval
main::key_files("rsa_es256.jwk")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/rsa_es256\.jwk": JWK #1: alg ES256 does not fit a RSA key in \S+nginx\.conf:\d+/



=== TEST 18: a JWK whose "alg" does not fit its EC curve stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256_es384.jwk;
    }
--- user_files eval
main::key_files("ec256_es384.jwk")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/ec256_es384\.jwk": JWK #1: alg ES384 does not fit a EC P-256 key/



=== TEST 19: a JWK with alg "none" stops nginx
--- config
    location /t {
        auth_jwt "test";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/none.jwk;
    }
--- user_files
>>> none.jwk
{"kty": "oct", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY", "alg": "none"}
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/none\.jwk": JWK #1: unsupported alg "none"/
