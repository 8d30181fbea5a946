# auth_jwt_type signed | encrypted | nested (NGINX Plus): JWE tokens, decrypted with the
# private keys of the same key files. Tokens minted with core's jwt-mint (--encrypt-to ...),
# exp 4102444800 unless the test says otherwise.
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key(), key_files(): the keys of t/keys, read at run time

add_files('oct.jwk' => '{"kty":"oct","k":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}' . "\n");

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: encrypted (RSA-OAEP-256 + A256GCM): claims, JWE header and the decrypted payload
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_type encrypted;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.key;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub roles=$jwt_claim_roles alg=$jwt_header_alg enc=$jwt_header_enc status=$auth_jwt_status payload=$jwt_payload\n";
    }
--- user_files eval
main::key_files("rsa2.key")
--- request
GET /t
--- more_headers
Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.fiKAIzNVfRaIuzNRQ9PX8GQoGaytOmr2EatbbpC3U1f-j4Ix_iR0YYxZa8E2RV3vZxQ9Ns7qRmEeLPxPDrEObhRIoZwJSSMq8AcM4cEno_ZS9Gqsz1fyfAZTj3S1WT3I4Kffq6HYyh2-zCegzOuO4Ve6Z3bC9oQcRDq6f9KN9ChweVY1nDvFK3lnlgaHugd9zNhxdlM7vNjknUjHbNVDRiTjj_5CJmqMEgGiQoT0YsvGXpUPMXAZxpTb3Ys0FWnHa41AvJKVGZwKVG1Y054a529Q4N-NRWpM9pCv5gvfONGsvhk1pwIWnj0S09tquTmckpmeoa-eUPxJ6rKygBiFjA.PYKrMVOo0rezqqYl.MxrvSWuGODuC6Qt7bIKyu8eDtXe0HlHiF3p9FQGDJihI4K_LZrDT5tX6qGNowyAC3Wk.U1gAMQrUZ-BfzQfKriuDFQ
--- error_code: 200
--- response_body
sub=alice roles=a,b alg=RSA-OAEP-256 enc=A256GCM status=valid payload={"sub":"alice","roles":["a","b"],"exp":4102444800}
--- no_error_log
[error]



=== TEST 2: nested: the JWE is decrypted and the enclosed JWS verified; $jwt_payload is the JWS
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_type nested;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.key;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub alg=$jwt_header_alg kid=$jwt_header_kid status=$auth_jwt_status payload=$jwt_payload\n";
    }
--- user_files eval
main::key_files("rsa.pub", "rsa2.key")
--- request
GET /t
--- more_headers
Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiZW5jMSIsImN0eSI6IkpXVCJ9.u4fHxWjHLQxgfG2B2wdAssnBRcqQc2pe5buZ07OMgntK7c69dGomOq4rUkUzolWohFVT5H8EnX2bWnnB-ge4IssQSbNu7uqEnbx6xj0wQNYzisJstgEWlyjl8ilZ15TcChjm6wOlfisTz0NZ11ZUn_fBhrH-vy2D-rFOZvD4_fcjSRCMB8-Njkp-Ri1rZlvXaI-QbmZly_2uhTCVkPij-ethgoDyKIh3lalBLcqfw-yODFNSQbKk1kGr1e6jbsOb0DQG7jpzpYfo8vGjpJzFmiHte5vIjOo4MZxqC6-T856XDSNFurzV3F2DLCXWwe6YsTiMSxfhO_DhQpvR11G6aA.kScKHjOBdoT9eowp.nYdyzRgCDnYx34z0QAsbodtNJLHVwfWsK6_rY33gIfUiAGqP5V0EIvSAg1flRgx4o2y3Ih9hGoy4TdIHNQMLT_KuNry9l_LslDw1Bp5c8g8m8fPlVlSTgJQ76fL0UtZohMuvoMYleSkvVaXFlo-YU4d5fcIIAKOjEfN0IMPp7Bf2JNsL2sCl204x6lsfCVW8yJSFN78N0CpBJFAiXvNbayuVmRcVk33tubMGzjVnr82IRgvhTSlDwqVNOg5hm-_C29hhDW5K-UlOOwlTTDGaU0gmSGwjWfs-oig97RzUCeoVmUa_KDfIls2zFajPYlZIX6HK8ph5cFxB0yHLYvSDVAVXAxK0DdWjAatjmSxfZg3_DqIZPc3-WxDaiZUPGHUNZNmxD5V-bWHdLUzbX0jKBiVC1tsrhldrUXjVRncwlqYDiE_5SO53ox2_vWedjimlb9juPUkURZ1_5vmleta2uMbHFYT1IFal-l0yU8w3nTOPP97ARTDMAvrDtr_y98f_7PzxeD9Gj5c4jorYCTks1z2wTry6uent0SSX9E163nFTH_J8tZy673-aoF13mcn_cmV1W4SP.wYsuy9rV9e1zE-_8uP4evQ
--- error_code: 200
--- response_body_like
^sub=bob alg=RS256 kid=sig1 status=valid payload=eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$



=== TEST 3: nested: an enclosed JWS signed with a key not in the set is refused
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_type nested;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.key;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "status=$auth_jwt_status sub=$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("rsa.pub", "rsa2.key")
--- request eval
["GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIiwiY3R5IjoiSldUIn0.As5OnkyBks25gIE4xmfYWfWBnSNQ0xLuxcEAaiDnf5BFbgKg2PxJcWy3SSRTMkb6vOCswGCuFeqnbE0fnc0UzlWXL_yKf7FtU2lfsVHKFgxVQchXUU-2HmF1mG6JOG7YS5khfyWZGp_b300FsVuxX47ksFfrtqUtpQ_BCtbgX6jWrr8KxOc2fczh3zIgGLBcjvkBSUUVCZ_8uFaPEiVxTUU5M_xJr-rJIOIYdsWZrlq84uV8IbHBrFP0LQbYr7UElAxKVaPbYQpZB-iqyoCMW16gBGLI-PhvS9u70bBOfwH52JpP_s4ThqezCBvqW7unz6m925i3E3Z0yJxYpXEeiA.1XED4ofn_q0wcVhD.Pf_41UiejeXJzD_h11lYWm-s2N2TZre-uoLWCd7fz9xwCTikhBYt1EsUl5cHI1YFYITz0KGAmXaodiHdozQ5KZeeEdwQs9KQk8jxE5Jnqjkac69zaUxHYuoIiVrlp0R6WWclsxHcqhF82JF3lG02dHYsngpUOmkx4UKwS17CbY8X2_RRYT2_OFHYP5lE4yq8OQXZ8SJZ-3iUQtokgulyu9K0XEwYAnEhAzq9YICfp5cy7J6FTGxKUzGZr6ikidpPbwMsg7AZxFK9J2J2wl7qQmn-Y0n_eb0Pip9UdwuFqwbGmma9xLjTqZGJW-lWgh4LybgPBIup1Q_vz6FRsxCIN-yaRsOnw5oIerM2IRhWU_CzukD_9tNfnDHRMjSswt_Glh985QPPEiAPxBEvRU14R32Agfsiuel2EWIBHZyXfGvDjF5xcjo3t38P5hyKKkjzHQIe4m_SqLs3HjQQKML-F3yjDqQZ0BBrO2Rl_kNIU_S653yo4N4wNhYh0WeWKTq61w10mSl6Q99YbOSZ5Op0dGmHMeEB_ovT4gCTndJ9SqngeIrTGAMTIfYN.iRuolybUHqULBsgoxtxSIQ",
 "Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.fiKAIzNVfRaIuzNRQ9PX8GQoGaytOmr2EatbbpC3U1f-j4Ix_iR0YYxZa8E2RV3vZxQ9Ns7qRmEeLPxPDrEObhRIoZwJSSMq8AcM4cEno_ZS9Gqsz1fyfAZTj3S1WT3I4Kffq6HYyh2-zCegzOuO4Ve6Z3bC9oQcRDq6f9KN9ChweVY1nDvFK3lnlgaHugd9zNhxdlM7vNjknUjHbNVDRiTjj_5CJmqMEgGiQoT0YsvGXpUPMXAZxpTb3Ys0FWnHa41AvJKVGZwKVG1Y054a529Q4N-NRWpM9pCv5gvfONGsvhk1pwIWnj0S09tquTmckpmeoa-eUPxJ6rKygBiFjA.PYKrMVOo0rezqqYl.MxrvSWuGODuC6Qt7bIKyu8eDtXe0HlHiF3p9FQGDJihI4K_LZrDT5tX6qGNowyAC3Wk.U1gAMQrUZ-BfzQfKriuDFQ",
 "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmcmFuayIsImV4cCI6NDEwMjQ0NDgwMH0.T32bq75jkoGsS5gQ0bWjvMAtt6LoMIPVeQ0Opi3nR-da0iKdP6ybToNHxs6Vp81u1v5utOkPMEQ62gCay9KPq9rnumnP0o2xDTFLoyIAAFJIhJ_fuCS0aTKs2vcKWlnJq5TS80ToqUrBvH6K6dyLXDvq6Y2T0aPjhy2qi_q5F7KTwtKT_WYWTLpMLuwhRQPyyYJHN6i6AP4ukmZ0XHFNhXLlgVgWa6SmaajoZOWbcXP8ZyJflszhLhZWxc2FQa8ykekLunODOzOn9_vrr7vm4GebZbT5xxwFIhbxDVKJxoYW4EpK_R7-Q4avqLREtgyhS_jmZOVrbc-GHxLAYAKrJA"]
--- error_code eval
[401, 401, 401]
--- response_body eval
["status=bad_signature sub=\n", "status=malformed sub=\n", "status=malformed sub=\n"]
--- error_log eval
qr/\[info\] .*auth_jwt: .*\((bad_signature|malformed)\)/



=== TEST 4: encrypted: every failure has its own status word, and the token is never logged
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_type encrypted;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.key;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "ok\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa2.key")
--- request eval
["GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.fiKAIzNVfRaIuzNRQ9PX8GQoGaytOmr2EatbbpC3U1f-j4Ix_iR0YYxZa8E2RV3vZxQ9Ns7qRmEeLPxPDrEObhRIoZwJSSMq8AcM4cEno_ZS9Gqsz1fyfAZTj3S1WT3I4Kffq6HYyh2-zCegzOuO4Ve6Z3bC9oQcRDq6f9KN9ChweVY1nDvFK3lnlgaHugd9zNhxdlM7vNjknUjHbNVDRiTjj_5CJmqMEgGiQoT0YsvGXpUPMXAZxpTb3Ys0FWnHa41AvJKVGZwKVG1Y054a529Q4N-NRWpM9pCv5gvfONGsvhk1pwIWnj0S09tquTmckpmeoa-eUPxJ6rKygBiFjA.PYKrMVOo0rezqqYl.MxrvSWuGODuC6Qt7bIKyu8eDtXe0HlHiF3p9FQGDJihI4K_LZrDT5tX6qGNowyAC3Wk.A1gAMQrUZ-BfzQfKriuDFQ",
 "Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.fiKAIzNVfRaIuzNRQ9PX8GQoGaytOmr2EatbbpC3U1f-j4Ix_iR0YYxZa8E2RV3vZxQ9Ns7qRmEeLPxPDrEObhRIoZwJSSMq8AcM4cEno_ZS9Gqsz1fyfAZTj3S1WT3I4Kffq6HYyh2-zCegzOuO4Ve6Z3bC9oQcRDq6f9KN9ChweVY1nDvFK3lnlgaHugd9zNhxdlM7vNjknUjHbNVDRiTjj_5CJmqMEgGiQoT0YsvGXpUPMXAZxpTb3Ys0FWnHa41AvJKVGZwKVG1Y054a529Q4N-NRWpM9pCv5gvfONGsvhk1pwIWnj0S09tquTmckpmeoa-eUPxJ6rKygBiFjA.PYKrMVOo0rezqqYl.MxrvSWuGODuC6Qt7bIKyu8eDtXe0HlHiF3p9FQGDJihI4K_LZrDT5tX6qGNowyA.U1gAMQrUZ-BfzQfKriuDFQ",
 "Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.dAIx4AbfGiBVd4JySMxLYTHrbaqufnJeiENyvTlcjarBEijES1VadWGiUtkyNaPSZ81tVwXpp06LbhcciHlCaxbNRwRVxGXfLErzvwvVK7IgGllxjeB9KBm9n5hq7wBq7573HftsTkjYXpnkqp3f0jAXAaPNBFEAnEF2kLRxT65TT-gb9EsqPV03yKBC27-P-eiJFNi4Qz_l0VV507TvzlUr38ErJGTRB9ruUxX5JkpdIG7aXTg2Hfw6IHp4hYv9GTU2ao-cYTCliYDewcA1qwPgsBdUzslyxu3BB-LpEbQbjZz7vYu4us6IH5_EFmJ0GdAim_ZmEirvK1tRQbdugg.H3Grt9BfWvBznPME.XeEXzl010Fa41KjoMUlpF9-tshxqMcmaAAmCCI-wPyk.zTaGeloGn5ViXsLgAcs8Qw",
 "Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.Gyeh7a5aRGGLTudj4kpCbRXExL6fdZiplV3SXiS35iSDRJeMQludbs-XZN9zpl9s9hPHA4i0pCi2NX7cYaZ5n9xhuT2GnJ1roLlI59xQgpctIGYyuXycnbz55cYNs45CISzssnVWM4EEnnfy8MQFwiFRza2cr12lS9HCtSAsxF-c-cUppwzRWkZNkSQsh3r7hYf5H7VafjmD_2-Ea6HPDVoGAvPd3-Jq4Buhq5Kx9fF2dBbTWCRNMeLphbJXacloXafdbKCtJOWIpnl6ib3Ytx13fMY3FZWtMQ6c7jgYt5JR8SkUqYtfU9kud_aDst6nf6xyGGz5A4nrlp278VNooA.ENzmdkGs0wdKS7In.U64bKiLqknKHhlhjaC8oa4_kxohE-mwu6ps.fc7ujgvD0idlFRARLEcmwg",
 "Authorization: Bearer eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsia3R5IjoiRUMiLCJjcnYiOiJQLTI1NiIsIngiOiJyUU5fSU5KX00zdC1nYkowcGhkTl91V1lGSDZKajhJMDJ5b1l0dXBlY0h3IiwieSI6InkzUE5Tb3pVdzRFaVRkekZGdW42QUMzaGUzSTBEWFcwUHNmYjYyN0o4SzgifX0.h_-6v4eI_XiyNnpstGyKDR8AtRnZFBqV5_iuidZ-sZhg8-mYgluQ8g.k4VYEDHK0nq_5aH8.fyc99aImjhNXYT-d9B__Bcy-KR08C2jBzpT4wiNuJeU.CJS4RwL2s29IkEDG6wemAQ",
 "Authorization: Bearer eyJhbGciOiJSU0ExXzUiLCJlbmMiOiJBMTI4R0NNIn0.AAAA.AAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
 "Authorization: Bearer eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2IiwiemlwIjoiREVGIn0..AAAAAAAAAAAAAAAAAAAAAA.AAAA.AAAAAAAAAAAAAAAAAAAAAA",
 "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmcmFuayIsImV4cCI6NDEwMjQ0NDgwMH0.T32bq75jkoGsS5gQ0bWjvMAtt6LoMIPVeQ0Opi3nR-da0iKdP6ybToNHxs6Vp81u1v5utOkPMEQ62gCay9KPq9rnumnP0o2xDTFLoyIAAFJIhJ_fuCS0aTKs2vcKWlnJq5TS80ToqUrBvH6K6dyLXDvq6Y2T0aPjhy2qi_q5F7KTwtKT_WYWTLpMLuwhRQPyyYJHN6i6AP4ukmZ0XHFNhXLlgVgWa6SmaajoZOWbcXP8ZyJflszhLhZWxc2FQa8ykekLunODOzOn9_vrr7vm4GebZbT5xxwFIhbxDVKJxoYW4EpK_R7-Q4avqLREtgyhS_jmZOVrbc-GHxLAYAKrJA"]
--- error_code eval
[401, 401, 401, 401, 401, 401, 401, 401]
--- response_body eval
["status=decrypt_failed\n", "status=decrypt_failed\n", "status=decrypt_failed\n", "status=expired\n", "status=no_key\n", "status=unsupported_enc\n", "status=unsupported_enc\n", "status=malformed\n"]
--- no_error_log eval
[qr/eyJhbGciOiJSU0Et/, "[error]"]



=== TEST 5: encrypted with symmetric keys: A256KW and dir + A128CBC-HS256 from an "oct" JWK
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_type encrypted;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/oct.jwk;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub alg=$jwt_header_alg\n";
    }
--- user_files eval
main::key_files("oct.jwk")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJBMjU2S1ciLCJlbmMiOiJBMjU2R0NNIn0.Sxi39jyx6uXLTOrBSxDaw1t7piNqqc11p0RgKXTrPYPXw5AaY4Q3KQ.mJWy9qIsD_yccQTF.qHVZvxb-qfBSvdxhzNYBReXxad-UiH5wMPVRhW_aAw.8FQoXXCbu26d-7SXnIZN3w",
 "Authorization: Bearer eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4Q0JDLUhTMjU2In0..FlxO2G5pXCQMlh0VJAqDlw.3JBlcNQCcZ42-ZysAFLaBYQ33tT6Fa4LMD_lwe8rK80.USu7WsG4YpEr6IueeGTemA"]
--- error_code eval
[200, 200]
--- response_body eval
["sub=dave alg=A256KW\n", "sub=erin alg=dir\n"]



=== TEST 6: encrypted with ECDH-ES+A256KW (P-256 private key in PEM); the type is inherited
--- config
    auth_jwt_type encrypted;
    location /t {
        auth_jwt "jwe";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/ec256.key;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub alg=$jwt_header_alg\n";
    }
--- user_files eval
main::key_files("ec256.key")
--- request
GET /t
--- more_headers
Authorization: Bearer eyJhbGciOiJFQ0RILUVTK0EyNTZLVyIsImVuYyI6IkEyNTZHQ00iLCJlcGsiOnsia3R5IjoiRUMiLCJjcnYiOiJQLTI1NiIsIngiOiJyUU5fSU5KX00zdC1nYkowcGhkTl91V1lGSDZKajhJMDJ5b1l0dXBlY0h3IiwieSI6InkzUE5Tb3pVdzRFaVRkekZGdW42QUMzaGUzSTBEWFcwUHNmYjYyN0o4SzgifX0.h_-6v4eI_XiyNnpstGyKDR8AtRnZFBqV5_iuidZ-sZhg8-mYgluQ8g.k4VYEDHK0nq_5aH8.fyc99aImjhNXYT-d9B__Bcy-KR08C2jBzpT4wiNuJeU.CJS4RwL2s29IkEDG6wemAQ
--- error_code: 200
--- response_body
sub=carol alg=ECDH-ES+A256KW



=== TEST 7: locations with different types share key files declared at the server level
--- config
    auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.key;
    location /signed {
        auth_jwt "s";
        try_files /no-such-file @ok;
    }
    location /nested {
        auth_jwt "n";
        auth_jwt_type nested;
        try_files /no-such-file @ok;
    }
    location /off {
        auth_jwt "o";
        auth_jwt_type signed;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "status=$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("rsa.pub", "rsa2.key")
--- request eval
["GET /signed", "GET /signed", "GET /nested", "GET /nested", "GET /off"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmcmFuayIsImV4cCI6NDEwMjQ0NDgwMH0.T32bq75jkoGsS5gQ0bWjvMAtt6LoMIPVeQ0Opi3nR-da0iKdP6ybToNHxs6Vp81u1v5utOkPMEQ62gCay9KPq9rnumnP0o2xDTFLoyIAAFJIhJ_fuCS0aTKs2vcKWlnJq5TS80ToqUrBvH6K6dyLXDvq6Y2T0aPjhy2qi_q5F7KTwtKT_WYWTLpMLuwhRQPyyYJHN6i6AP4ukmZ0XHFNhXLlgVgWa6SmaajoZOWbcXP8ZyJflszhLhZWxc2FQa8ykekLunODOzOn9_vrr7vm4GebZbT5xxwFIhbxDVKJxoYW4EpK_R7-Q4avqLREtgyhS_jmZOVrbc-GHxLAYAKrJA",
 "Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiZW5jMSIsImN0eSI6IkpXVCJ9.u4fHxWjHLQxgfG2B2wdAssnBRcqQc2pe5buZ07OMgntK7c69dGomOq4rUkUzolWohFVT5H8EnX2bWnnB-ge4IssQSbNu7uqEnbx6xj0wQNYzisJstgEWlyjl8ilZ15TcChjm6wOlfisTz0NZ11ZUn_fBhrH-vy2D-rFOZvD4_fcjSRCMB8-Njkp-Ri1rZlvXaI-QbmZly_2uhTCVkPij-ethgoDyKIh3lalBLcqfw-yODFNSQbKk1kGr1e6jbsOb0DQG7jpzpYfo8vGjpJzFmiHte5vIjOo4MZxqC6-T856XDSNFurzV3F2DLCXWwe6YsTiMSxfhO_DhQpvR11G6aA.kScKHjOBdoT9eowp.nYdyzRgCDnYx34z0QAsbodtNJLHVwfWsK6_rY33gIfUiAGqP5V0EIvSAg1flRgx4o2y3Ih9hGoy4TdIHNQMLT_KuNry9l_LslDw1Bp5c8g8m8fPlVlSTgJQ76fL0UtZohMuvoMYleSkvVaXFlo-YU4d5fcIIAKOjEfN0IMPp7Bf2JNsL2sCl204x6lsfCVW8yJSFN78N0CpBJFAiXvNbayuVmRcVk33tubMGzjVnr82IRgvhTSlDwqVNOg5hm-_C29hhDW5K-UlOOwlTTDGaU0gmSGwjWfs-oig97RzUCeoVmUa_KDfIls2zFajPYlZIX6HK8ph5cFxB0yHLYvSDVAVXAxK0DdWjAatjmSxfZg3_DqIZPc3-WxDaiZUPGHUNZNmxD5V-bWHdLUzbX0jKBiVC1tsrhldrUXjVRncwlqYDiE_5SO53ox2_vWedjimlb9juPUkURZ1_5vmleta2uMbHFYT1IFal-l0yU8w3nTOPP97ARTDMAvrDtr_y98f_7PzxeD9Gj5c4jorYCTks1z2wTry6uent0SSX9E163nFTH_J8tZy673-aoF13mcn_cmV1W4SP.wYsuy9rV9e1zE-_8uP4evQ",
 "Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIiwia2lkIjoiZW5jMSIsImN0eSI6IkpXVCJ9.u4fHxWjHLQxgfG2B2wdAssnBRcqQc2pe5buZ07OMgntK7c69dGomOq4rUkUzolWohFVT5H8EnX2bWnnB-ge4IssQSbNu7uqEnbx6xj0wQNYzisJstgEWlyjl8ilZ15TcChjm6wOlfisTz0NZ11ZUn_fBhrH-vy2D-rFOZvD4_fcjSRCMB8-Njkp-Ri1rZlvXaI-QbmZly_2uhTCVkPij-ethgoDyKIh3lalBLcqfw-yODFNSQbKk1kGr1e6jbsOb0DQG7jpzpYfo8vGjpJzFmiHte5vIjOo4MZxqC6-T856XDSNFurzV3F2DLCXWwe6YsTiMSxfhO_DhQpvR11G6aA.kScKHjOBdoT9eowp.nYdyzRgCDnYx34z0QAsbodtNJLHVwfWsK6_rY33gIfUiAGqP5V0EIvSAg1flRgx4o2y3Ih9hGoy4TdIHNQMLT_KuNry9l_LslDw1Bp5c8g8m8fPlVlSTgJQ76fL0UtZohMuvoMYleSkvVaXFlo-YU4d5fcIIAKOjEfN0IMPp7Bf2JNsL2sCl204x6lsfCVW8yJSFN78N0CpBJFAiXvNbayuVmRcVk33tubMGzjVnr82IRgvhTSlDwqVNOg5hm-_C29hhDW5K-UlOOwlTTDGaU0gmSGwjWfs-oig97RzUCeoVmUa_KDfIls2zFajPYlZIX6HK8ph5cFxB0yHLYvSDVAVXAxK0DdWjAatjmSxfZg3_DqIZPc3-WxDaiZUPGHUNZNmxD5V-bWHdLUzbX0jKBiVC1tsrhldrUXjVRncwlqYDiE_5SO53ox2_vWedjimlb9juPUkURZ1_5vmleta2uMbHFYT1IFal-l0yU8w3nTOPP97ARTDMAvrDtr_y98f_7PzxeD9Gj5c4jorYCTks1z2wTry6uent0SSX9E163nFTH_J8tZy673-aoF13mcn_cmV1W4SP.wYsuy9rV9e1zE-_8uP4evQ",
 "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmcmFuayIsImV4cCI6NDEwMjQ0NDgwMH0.T32bq75jkoGsS5gQ0bWjvMAtt6LoMIPVeQ0Opi3nR-da0iKdP6ybToNHxs6Vp81u1v5utOkPMEQ62gCay9KPq9rnumnP0o2xDTFLoyIAAFJIhJ_fuCS0aTKs2vcKWlnJq5TS80ToqUrBvH6K6dyLXDvq6Y2T0aPjhy2qi_q5F7KTwtKT_WYWTLpMLuwhRQPyyYJHN6i6AP4ukmZ0XHFNhXLlgVgWa6SmaajoZOWbcXP8ZyJflszhLhZWxc2FQa8ykekLunODOzOn9_vrr7vm4GebZbT5xxwFIhbxDVKJxoYW4EpK_R7-Q4avqLREtgyhS_jmZOVrbc-GHxLAYAKrJA",
 "Authorization: Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJmcmFuayIsImV4cCI6NDEwMjQ0NDgwMH0.T32bq75jkoGsS5gQ0bWjvMAtt6LoMIPVeQ0Opi3nR-da0iKdP6ybToNHxs6Vp81u1v5utOkPMEQ62gCay9KPq9rnumnP0o2xDTFLoyIAAFJIhJ_fuCS0aTKs2vcKWlnJq5TS80ToqUrBvH6K6dyLXDvq6Y2T0aPjhy2qi_q5F7KTwtKT_WYWTLpMLuwhRQPyyYJHN6i6AP4ukmZ0XHFNhXLlgVgWa6SmaajoZOWbcXP8ZyJflszhLhZWxc2FQa8ykekLunODOzOn9_vrr7vm4GebZbT5xxwFIhbxDVKJxoYW4EpK_R7-Q4avqLREtgyhS_jmZOVrbc-GHxLAYAKrJA"]
--- error_code eval
[200, 401, 200, 401, 200]
--- response_body eval
["sub=frank\n", "status=malformed\n", "sub=bob\n", "status=malformed\n", "sub=frank\n"]



=== TEST 8: auth_jwt_type encrypted without any decryption key stops nginx
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_type encrypted;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_type encrypted: no key in "\S+\/rsa\.pub" can decrypt a token; a JWK with its private members, an "oct" JWK or a PEM PRIVATE KEY is needed/



=== TEST 9: a private key with the default type (signed) stops nginx and says why
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.key;
    }
--- user_files eval
main::key_files("rsa2.key")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_key_file: "\S+\/rsa2\.key": file holds a PRIVATE KEY; give the public key \(openssl pkey -pubout\) in \S+nginx\.conf:\d+ \(with "auth_jwt_type encrypted" or "nested" it would be used to decrypt tokens\)/



=== TEST 10: an unknown type stops nginx
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_type jwe;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa.pub;
    }
--- user_files eval
main::key_files("rsa.pub")
--- must_die
--- error_log eval
qr/\[emerg\] .*auth_jwt_type: invalid value "jwe": use signed, encrypted or nested in \S+nginx\.conf:\d+/



=== TEST 11: auth_jwt_type twice at one level stops nginx
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_type encrypted;
        auth_jwt_type nested;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.key;
    }
--- user_files eval
main::key_files("rsa2.key")
--- must_die
--- error_log eval
qr/\[emerg\] .*"auth_jwt_type" directive is duplicate in \S+nginx\.conf:\d+/



=== TEST 12: the verified-token cache does not apply to encrypted tokens (nothing is stored)
--- http_config
    auth_jwt_cache zone=jwt130:1m;
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_type encrypted;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/rsa2.key;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub cache=$auth_jwt_cache_status\n";
    }
--- user_files eval
main::key_files("rsa2.key")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.fiKAIzNVfRaIuzNRQ9PX8GQoGaytOmr2EatbbpC3U1f-j4Ix_iR0YYxZa8E2RV3vZxQ9Ns7qRmEeLPxPDrEObhRIoZwJSSMq8AcM4cEno_ZS9Gqsz1fyfAZTj3S1WT3I4Kffq6HYyh2-zCegzOuO4Ve6Z3bC9oQcRDq6f9KN9ChweVY1nDvFK3lnlgaHugd9zNhxdlM7vNjknUjHbNVDRiTjj_5CJmqMEgGiQoT0YsvGXpUPMXAZxpTb3Ys0FWnHa41AvJKVGZwKVG1Y054a529Q4N-NRWpM9pCv5gvfONGsvhk1pwIWnj0S09tquTmckpmeoa-eUPxJ6rKygBiFjA.PYKrMVOo0rezqqYl.MxrvSWuGODuC6Qt7bIKyu8eDtXe0HlHiF3p9FQGDJihI4K_LZrDT5tX6qGNowyAC3Wk.U1gAMQrUZ-BfzQfKriuDFQ",
 "Authorization: Bearer eyJhbGciOiJSU0EtT0FFUC0yNTYiLCJlbmMiOiJBMjU2R0NNIn0.fiKAIzNVfRaIuzNRQ9PX8GQoGaytOmr2EatbbpC3U1f-j4Ix_iR0YYxZa8E2RV3vZxQ9Ns7qRmEeLPxPDrEObhRIoZwJSSMq8AcM4cEno_ZS9Gqsz1fyfAZTj3S1WT3I4Kffq6HYyh2-zCegzOuO4Ve6Z3bC9oQcRDq6f9KN9ChweVY1nDvFK3lnlgaHugd9zNhxdlM7vNjknUjHbNVDRiTjj_5CJmqMEgGiQoT0YsvGXpUPMXAZxpTb3Ys0FWnHa41AvJKVGZwKVG1Y054a529Q4N-NRWpM9pCv5gvfONGsvhk1pwIWnj0S09tquTmckpmeoa-eUPxJ6rKygBiFjA.PYKrMVOo0rezqqYl.MxrvSWuGODuC6Qt7bIKyu8eDtXe0HlHiF3p9FQGDJihI4K_LZrDT5tX6qGNowyAC3Wk.U1gAMQrUZ-BfzQfKriuDFQ"]
--- error_code eval
[200, 200]
--- response_body eval
["sub=alice cache=\n", "sub=alice cache=\n"]



=== TEST 13: what loading the decryption keys finds is reported at startup (an oct key of no JWE size)
--- config
    location /t {
        auth_jwt "jwe";
        auth_jwt_type encrypted;
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/two.jwks;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "sub=$jwt_claim_sub\n";
    }
--- user_files
>>> two.jwks
{"keys": [{"kty": "oct", "use": "enc", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"},
          {"kty": "oct", "use": "enc", "k": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM"}]}
--- request
GET /t
--- more_headers
Authorization: Bearer eyJhbGciOiJBMjU2S1ciLCJlbmMiOiJBMjU2R0NNIn0.Sxi39jyx6uXLTOrBSxDaw1t7piNqqc11p0RgKXTrPYPXw5AaY4Q3KQ.mJWy9qIsD_yccQTF.qHVZvxb-qfBSvdxhzNYBReXxad-UiH5wMPVRhW_aAw.8FQoXXCbu26d-7SXnIZN3w
--- error_code: 200
--- response_body
sub=dave
--- error_log eval
qr/\[warn\] .*auth_jwt_key_file: "\S+\/two\.jwks": JWK #2: oct key of 20 bytes fits no JWE algorithm .* \(loading decryption keys for "auth_jwt_type encrypted"\) in \S+nginx\.conf:\d+/
