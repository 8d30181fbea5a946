# The test-only keys of t/keys, read at run time: the one place the .t files get key
# material from, so that regenerating t/keys (t/keys/make.sh) needs no edit of any .t file
# (only the static tokens must be minted again).  Plain Perl, no dependency on the harness:
# it works under the shim in t/lib and under openresty's Test::Nginx alike.
#
#   use FindBin;
#   use lib "$FindBin::Bin";            # t/fault/*.t: use lib "$FindBin::Bin/..";
#   use TestKeys;
#
# Exported (into main, so that "--- user_files eval" sections can call main::key_files):
#
#   key('rsa.pub')            the bytes of t/keys/rsa.pub; stops the test if it cannot
#                             be read (die; under openresty's Test::Nginx BAIL_OUT)
#   key_files(@names)         [ [ name, content ], ... ] for "--- user_files eval": a name
#                             added with add_files, else the t/keys file of that name;
#                             dies on an unknown name
#   add_files(name => content, ...)
#                             this file's own entries for key_files: sets assembled from
#                             t/keys (jwks(...)) and test data that is no copy of t/keys
#   jwk('rsa', alg => 'PS256', key_ops => ['verify'])
#                             t/keys/rsa.jwk as one line without the newline, with members
#                             replaced in place (kid) or appended in the order given;
#                             a value is a string or a reference to a list of strings
#   jwks(@jwk)                '{"keys": [<jwk>, <jwk>, ...]}' and a newline
#   rsa_private_jwk('rsa2', kid => 'x', ...)
#                             t/keys/rsa2.key (PKCS#8 RSA) as a private JWK (n e d p q dp
#                             dq qi, kid = the file stem), members changed as for jwk()
package TestKeys;

use strict;
use warnings;

use File::Basename ();
use File::Spec ();
use MIME::Base64 ();

use Exporter 'import';
our @EXPORT = qw(key key_files add_files jwk jwks rsa_private_jwk);

# t/keys next to this file, whatever directory the .t file lives in.
our $DIR = File::Spec->catdir(File::Basename::dirname(File::Spec->rel2abs(__FILE__)), 'keys');

my %FILE;   # add_files
my %CACHE;  # key

# Every error stops the test file. Under openresty's Test::Nginx a die inside a "--- ... eval"
# section would be swallowed (Test::Base then uses the error text as the section's value, and
# "--- user_files eval" would silently write no file), so there the whole run bails out.
sub _fail {
    my ($msg) = @_;
    Test::More::BAIL_OUT($msg) if $INC{'Test/Base.pm'} && defined &Test::More::BAIL_OUT;
    die "$msg\n";
}

sub key {
    my ($name) = @_;
    _fail("TestKeys::key: no key file name") unless defined $name && length $name;
    _fail("TestKeys::key: \"$name\" is not a file name of t/keys") if $name =~ m{/|\A\.};
    return $CACHE{$name} //= do {
        my $path = "$DIR/$name";
        open my $fh, '<:raw', $path or _fail("TestKeys: cannot read the test key $path: $!");
        local $/;
        my $text = <$fh>;
        close $fh or _fail("TestKeys: cannot read the test key $path: $!");
        _fail("TestKeys: the test key $path is empty") unless length $text;
        $text;
    };
}

sub add_files {
    _fail("TestKeys::add_files: name => content pairs expected") if @_ % 2;
    while (my ($name, $content) = splice @_, 0, 2) {
        _fail("TestKeys::add_files: \"$name\" added twice") if exists $FILE{$name};
        _fail("TestKeys::add_files: \"$name\" has no content") unless defined $content;
        $FILE{$name} = $content;
    }
    return;
}

sub key_files {
    return [ map { [ $_, exists $FILE{$_} ? $FILE{$_} : key($_) ] } @_ ];
}

sub _json_value {
    my ($v) = @_;
    return '[' . join(', ', map { _json_value($_) } @$v) . ']' if ref $v eq 'ARRAY';
    _fail("TestKeys: JWK member value \"$v\" would need JSON escaping") if $v =~ /["\\\x00-\x1f]/;
    return qq("$v");
}

# '{"a": "b", ...}' (no newline) with the members of @set replaced or appended.
sub _set_members {
    my ($what, $text, @set) = @_;
    _fail("TestKeys: $what: name => value pairs expected") if @set % 2;
    while (my ($name, $value) = splice @set, 0, 2) {
        my $json = _json_value($value);
        $text =~ s/("\Q$name\E": )(?:"[^"]*"|\[[^\]]*\])/$1$json/
          or $text =~ s/\}\z/, "$name": $json}/;
    }
    return $text;
}

sub jwk {
    my ($stem, @set) = @_;
    my $text = key("$stem.jwk");
    $text =~ s/\n\z//;
    _fail("TestKeys: t/keys/$stem.jwk is not a one-line JSON object")
      unless $text =~ /\A\{"[^\n]*\}\z/;
    return _set_members("jwk('$stem')", $text, @set);
}

sub jwks {
    return '{"keys": [' . join(', ', @_) . "]}\n";
}

# DER: the (tag, contents) of each TLV in a string of TLVs.
sub _der_items {
    my ($der, $what) = @_;
    my @items;
    my $i = 0;
    while ($i < length $der) {
        _fail("TestKeys: $what: truncated DER") if $i + 2 > length $der;
        my $tag = ord substr($der, $i++, 1);
        my $len = ord substr($der, $i++, 1);
        if ($len & 0x80) {
            my $n = $len & 0x7f;
            _fail("TestKeys: $what: bad DER length") if $n < 1 || $n > 4 || $i + $n > length $der;
            $len = 0;
            $len = $len * 256 + ord substr($der, $i++, 1) for 1 .. $n;
        }
        _fail("TestKeys: $what: truncated DER") if $i + $len > length $der;
        push @items, [ $tag, substr($der, $i, $len) ];
        $i += $len;
    }
    return @items;
}

sub _b64u {
    my $s = MIME::Base64::encode_base64($_[0], '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+\z//;
    return $s;
}

sub rsa_private_jwk {
    my ($stem, @set) = @_;
    my $what = "t/keys/$stem.key";
    my $pem = key("$stem.key");
    $pem =~ /-----BEGIN PRIVATE KEY-----\n(.+?)-----END PRIVATE KEY-----/s
      or _fail("TestKeys: $what is not a PEM PKCS#8 private key");
    my $der = MIME::Base64::decode_base64($1);
    my ($outer, @rest) = _der_items($der, $what);
    _fail("TestKeys: $what: not one DER SEQUENCE") if @rest || $outer->[0] != 0x30;
    my ($version, $alg, $octets) = _der_items($outer->[1], $what);
    _fail("TestKeys: $what: not an RSA PKCS#8 key")
      unless $alg && $alg->[0] == 0x30
          && index($alg->[1], "\x06\x09\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01") == 0
          && $octets && $octets->[0] == 0x04;
    my ($rsa) = _der_items($octets->[1], $what);
    _fail("TestKeys: $what: bad RSAPrivateKey") unless $rsa && $rsa->[0] == 0x30;
    my @int = _der_items($rsa->[1], $what);
    _fail("TestKeys: $what: bad RSAPrivateKey") if @int != 9 || grep { $_->[0] != 0x02 } @int;
    my %v;
    @v{qw(version n e d p q dp dq qi)} = map { (my $b = $_->[1]) =~ s/\A\x00+//; _b64u($b) } @int;
    my $text = qq({"kty": "RSA", "kid": "$stem")
      . join('', map { qq(, "$_": "$v{$_}") } qw(n e d p q dp dq qi)) . '}';
    return _set_members("rsa_private_jwk('$stem')", $text, @set);
}

1;
