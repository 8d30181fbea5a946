# C2SP Wycheproof's JOSE vectors through nginx: a sample of core/tests/vectors/wycheproof
# (read here at run time; core/tests/wycheproof.rs runs every vector against the core).
#
# Every JWS payload in those files is "foo", a number, prose or binary, never a JSON object,
# so a signed JWT location refuses each of them, valid or not, as malformed: for a valid
# vector that is the documented refusal of a payload that is not a claims object, for an
# invalid one it is a refusal all the same (the payload is parsed before the signature, as in
# NGINX Plus). The JWE sample says more: a valid vector decrypts and is then refused as
# malformed (its plaintext "foo" or prose is not a claims object), while a tampered one is
# decrypt_failed, a wrong kid or key no_key and RSA1_5 unsupported_enc.
use Test::Nginx::Socket 'no_plan';

$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();
use FindBin;
use lib "$FindBin::Bin";
use TestKeys;    # key_files(), add_files()
use JSON::PP;

my $DIR = "$FindBin::Bin/../core/tests/vectors/wycheproof";
my %SHORT = (
    'json_web_signature_test.json'  => 'sig',
    'json_web_encryption_test.json' => 'enc',
);

# tcId => { token, result, key file, location } per short file name.
our %V;
for my $file (sort keys %SHORT) {
    my $path = "$DIR/$file";
    open my $fh, '<:raw', $path
        or die "Wycheproof vector file $path is missing ($!); it belongs in core/tests/vectors/wycheproof\n";
    my $doc = do { local $/; JSON::PP->new->decode(scalar <$fh>) };
    close $fh;
    my $short = $SHORT{$file};
    for my $g (@{ $doc->{testGroups} }) {
        my $first = $g->{tests}[0]{tcId};
        my $name  = "wp-$short-$first.jwk";
        # JWS: the public key (the private one for oct); JWE: the private key.
        my $jwk = $short eq 'sig' ? ($g->{public} // $g->{private}) : $g->{private};
        for my $t (@{ $g->{tests} }) {
            $V{$short}{ $t->{tcId} } = {
                token  => $t->{jws} // $t->{jwe},
                result => $t->{result},
                key    => $name,
                jwk    => JSON::PP->new->canonical->encode($jwk) . "\n",
            };
        }
    }
}

# The sample: [file, tcId, expected $auth_jwt_status].
our @SAMPLE = (
    [sig => 1,   'malformed'],    # valid HS256, payload "foo"
    [sig => 2,   'malformed'],    # modified signature
    [sig => 16,  'malformed'],    # alg none, empty signature segment
    [sig => 18,  'malformed'],    # valid ES256
    [sig => 31,  'malformed'],    # HS256 with the EC public key's bytes as secret
    [sig => 32,  'malformed'],    # attacker's key embedded as the header jwk
    [sig => 33,  'malformed'],    # valid RS256
    [sig => 275, 'malformed'],    # valid PS256, binary payload
    [sig => 287, 'malformed'],    # valid PS256 (salt all zeros), payload a number
    [sig => 341, 'malformed'],    # alg none (PS512 key)
    [sig => 348, 'malformed'],    # valid HS256, RFC 7520 figure 35 (prose payload)
    [enc => 1,   'malformed'],    # valid A256KW + A256CBC-HS512: decrypted, "foo"
    [enc => 2,   'decrypt_failed'],    # modified authentication tag
    [enc => 19,  'no_key'],            # modified header: the kid names no key
    [enc => 33,  'malformed'],         # valid ECDH-ES+A128KW (P-256)
    [enc => 51,  'malformed'],         # epk not on the curve (invalid curve attack)
    [enc => 82,  'malformed'],         # valid RSA-OAEP + A128GCM
    [enc => 88,  'malformed'],         # valid RSA-OAEP-256 + A128GCM
    [enc => 94,  'unsupported_enc'],   # RSA1_5 to an RSA-OAEP-256 key
    [enc => 106, 'no_key'],            # A128KW with a key whose alg is A128GCMKW
    [enc => 132, 'malformed'],         # valid dir + A128GCM, RFC 7520 figure 136 (prose)
    [enc => 136, 'decrypt_failed'],    # wrong PKCS#5 padding under a valid-looking tag
);

my %added;
for my $s (@SAMPLE) {
    my ($file, $id, $status) = @$s;
    my $v = $V{$file}{$id} or die "Wycheproof $file tcId $id not found\n";
    # No sampled invalid vector may be expected to pass.
    die "sample $file $id: an invalid vector cannot be expected valid\n"
        if $v->{result} eq 'invalid' && $status eq 'valid';
    add_files($v->{key} => $v->{jwk}) unless $added{ $v->{key} }++;
}

sub loc { my ($file, $id) = @_; my $k = $V{$file}{$id}{key}; $k =~ s/\.jwk$//; "/$k" }

sub config {
    my %seen;
    my $conf = '';
    for my $s (@SAMPLE) {
        my ($file, $id) = @$s;
        my $loc = loc($file, $id);
        next if $seen{$loc}++;
        my $type = $file eq 'enc' ? 'encrypted' : 'signed';
        $conf .= "    location $loc {\n"
            . "        auth_jwt \"wycheproof\";\n"
            . "        auth_jwt_type $type;\n"
            . "        auth_jwt_key_file \$TEST_NGINX_HTML_DIR/$V{$file}{$id}{key};\n"
            . "        try_files /no-such-file \@ok;\n"
            . "    }\n";
    }
    return $conf . <<'EOF';
    location @ok {
        return 200 "tc=$arg_tc status=$auth_jwt_status\n";
    }
    error_page 401 = @denied;
    location @denied {
        return 401 "tc=$arg_tc status=$auth_jwt_status\n";
    }
EOF
}

sub requests { [ map { loc($_->[0], $_->[1]) . "?tc=$_->[0]-$_->[1]" } @SAMPLE ] }
sub headers  { [ map { "Authorization: Bearer $V{$_->[0]}{$_->[1]}{token}" } @SAMPLE ] }
sub codes    { [ map { $_->[2] eq 'valid' ? 200 : 401 } @SAMPLE ] }
sub bodies   { [ map { "tc=$_->[0]-$_->[1] status=$_->[2]\n" } @SAMPLE ] }
sub files    { my %s; key_files(grep { !$s{$_}++ } map { $V{ $_->[0] }{ $_->[1] }{key} } @SAMPLE) }

log_level('info');
no_shuffle();
run_tests();

__DATA__

=== TEST 1: a sample of Wycheproof's JWS and JWE vectors, each with its group's key: no invalid vector passes; valid JWE vectors decrypt (then their plaintext is no claims object)
--- config eval
main::config()
--- user_files eval
main::files()
--- request eval
[ map { "GET $_" } @{ main::requests() } ]
--- more_headers eval
main::headers()
--- error_code eval
main::codes()
--- response_body eval
main::bodies()



=== TEST 2: the valid JWE vectors of the sample really decrypted: the log names the plaintext, not the decryption
--- config eval
main::config()
--- user_files eval
main::files()
--- request eval
[ map { "GET " . main::loc(enc => $_) . "?tc=enc-$_" } 1, 82, 132 ]
--- more_headers eval
[ map { "Authorization: Bearer $main::V{enc}{$_}{token}" } 1, 82, 132 ]
--- error_code eval
[401, 401, 401]
--- error_log eval
[qr/auth_jwt: .*payload is not valid JSON \(malformed\)/]
--- no_error_log
decrypt_failed
