# The work one token can cause is bounded: it is checked against at most 16 candidate keys
# (MAX_KEY_TRIES). A token that none of the first 16 verifies while more remain is refused
# with $auth_jwt_status "too_many_keys"; a key set with more than 16 keys without "kid" gets
# a warning at nginx -t. Keys and tokens are HMAC ones made here at run time.
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;
use Test::Nginx::Socket 'no_plan';
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64url);

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();

sub secret { return sprintf("cost-bound-test-secret-%04d-padding!!", $_[0]) }

# A JWKS of $n oct keys without kid.
sub hmac_jwks {
    my ($n) = @_;
    return '{"keys":[' . join(",", map { '{"kty":"oct","k":"' . encode_base64url(secret($_)) . '"}' } 0 .. $n - 1) . "]}\n";
}

# An HS256 token for sub $sub signed with key number $i.
sub hs256 {
    my ($i, $sub) = @_;
    my $input = encode_base64url('{"alg":"HS256","typ":"JWT"}') . '.'
              . encode_base64url(qq({"sub":"$sub","exp":4102444800}));
    return $input . '.' . encode_base64url(hmac_sha256($input, secret($i)));
}

add_files('sixteen.jwks' => hmac_jwks(16), 'seventeen.jwks' => hmac_jwks(17));

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: 16 keys without kid: every one of them can verify, no warning
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/sixteen.jwks;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("sixteen.jwks")
--- request eval
["GET /t", "GET /t"]
--- more_headers eval
["Authorization: Bearer " . main::hs256(0, "first"), "Authorization: Bearer " . main::hs256(15, "last")]
--- response_body eval
["first\n", "last\n"]
--- no_error_log
[warn]
[error]



=== TEST 2: 17 keys without kid: a warning at nginx -t; the first 16 verify, the 17th is out of reach (too_many_keys, one info line)
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/seventeen.jwks;
        error_page 401 = @denied;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "$jwt_claim_sub\n";
    }
    location @denied {
        return 401 "$auth_jwt_status\n";
    }
--- user_files eval
main::key_files("seventeen.jwks")
--- request
GET /t
--- more_headers eval
"Authorization: Bearer " . main::hs256(16, "seventeenth")
--- error_code: 401
--- response_body
too_many_keys
--- error_log eval
[qr/\[warn\] .*auth_jwt_key_file: "\S+seventeen\.jwks": 17 keys without "kid" are in scope; a token is checked against at most 16 keys/,
 qr/\[info\] .*auth_jwt: no key among the first 16 candidates verifies the token, and more keys would have to be tried \(too_many_keys\)/]



=== TEST 3: 17 keys without kid: a token of one of the first 16 keys is valid
--- config
    location /t {
        auth_jwt "api";
        auth_jwt_key_file $TEST_NGINX_HTML_DIR/seventeen.jwks;
        try_files /no-such-file @ok;
    }
    location @ok {
        return 200 "$jwt_claim_sub\n";
    }
--- user_files eval
main::key_files("seventeen.jwks")
--- request
GET /t
--- more_headers eval
"Authorization: Bearer " . main::hs256(7, "eighth")
--- response_body
eighth
--- no_error_log
[error]
