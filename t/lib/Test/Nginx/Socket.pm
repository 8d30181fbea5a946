package Test::Nginx::Socket;

# Self-contained, STRICT subset re-implementation of the CPAN module
# Test::Nginx::Socket (openresty/test-nginx) for this project's t/*.t files.
# Core Perl only.  See the POD at the end of this file for what is supported
# and where it deliberately differs from the real module.

use strict;
use warnings;

use Test::More ();
use Test::Builder ();
use IO::Socket::INET ();
use IO::Select ();
use POSIX qw(:sys_wait_h EAGAIN EINTR EWOULDBLOCK EINPROGRESS);
use File::Path qw(make_path remove_tree);
use File::Spec ();
use Time::HiRes qw(sleep time);
use Cwd ();
use Config ();

our $VERSION = '0.29_shim';

# ---------------------------------------------------------------------------
# Global settings (names follow Test::Nginx::Util)
# ---------------------------------------------------------------------------

our $NginxBinary       = $ENV{TEST_NGINX_BINARY} || 'nginx';
our $LoadModules       = $ENV{TEST_NGINX_LOAD_MODULES};
our $Workers           = 1;
our $WorkerConnections = 64;
our $LogLevel          = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
# The real module defaults to "master_process off"; we default to ON so that
# a crashing worker is reported by the master ("exited on signal") instead of
# silently taking the whole server down.  master_off() restores the real
# default.
our $MasterProcessEnabled = $ENV{TEST_NGINX_MASTER_PROCESS} || 'on';
our $RepeatEach        = 1;
our $NoRootLocation    = 0;
our $NoLongString      = 0;
our $NoShuffle         = 1;    # we never shuffle
# Valgrind mode (TEST_NGINX_USE_VALGRIND, as in the real module): nginx runs
# under memcheck with "master_process off", and every block fails when the
# valgrind log has an error or a definite/indirect leak.  See the POD.
our $UseValgrind = $ENV{TEST_NGINX_USE_VALGRIND};
$UseValgrind = undef if defined $UseValgrind && $UseValgrind =~ /^\s*0?\s*$/;
our $ValgrindTimeoutFactor = $ENV{TEST_NGINX_VALGRIND_TIMEOUT_FACTOR} || 10;
our $Timeout           = $ENV{TEST_NGINX_TIMEOUT} || ($UseValgrind ? 30 : 3);
our $TestNginxSleep    = $ENV{TEST_NGINX_SLEEP} || ($UseValgrind ? 0.02 : 0.015);
our $ServerAddr        = '127.0.0.1';
our $ServerName        = 'localhost';
our $CheckAccumErrLog  = $ENV{TEST_NGINX_CHECK_ACCUM_ERR_LOG};
our $ConfigPreamble    = '';
our $Verbose           = $ENV{TEST_NGINX_VERBOSE};
our $StartTimeout      = $ENV{TEST_NGINX_START_TIMEOUT} || ($UseValgrind ? 120 : 5);
# valgrind does its leak check after SIGQUIT, before the process exits
our $StopTimeout       = $UseValgrind ? 120 : 5;
our @EnvToNginx;
our @BlockPreprocessors;
our @CleanupHandlers;
our @ResponseBodyChecks;

our $PortWasAutoPicked = 0;
our $ServerPort = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT};
if (!$ServerPort) {
    $ServerPort = pick_free_port();
    $PortWasAutoPicked = 1;
}
our $ServerPortForClient = $ENV{TEST_NGINX_CLIENT_PORT} || $ServerPort;
$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;

our $ServRoot = File::Spec->rel2abs($ENV{TEST_NGINX_SERVROOT} || 't/servroot');
$ServRoot =~ s{/+$}{};
$ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
our $LogDir     = "$ServRoot/logs";
our $ErrLogFile = "$LogDir/error.log";
our $StderrFile = "$LogDir/nginx-stderr.log";
our $AccLogFile = "$LogDir/access.log";
our $HtmlDir    = "$ServRoot/html";
our $ConfDir    = "$ServRoot/conf";
our $ConfFile   = "$ConfDir/nginx.conf";
our $PidFile    = "$LogDir/nginx.pid";

our $HtmlDirAutoSet = 0;

# Mirror the package variables of the real Test::Nginx::Util so that files
# that poke at them keep working.
{
    no warnings 'once';
    *Test::Nginx::Util::ServerPort          = \$ServerPort;
    *Test::Nginx::Util::ServerPortForClient = \$ServerPortForClient;
    *Test::Nginx::Util::ServRoot            = \$ServRoot;
    *Test::Nginx::Util::HtmlDir             = \$HtmlDir;
    *Test::Nginx::Util::LogDir              = \$LogDir;
    *Test::Nginx::Util::ErrLogFile          = \$ErrLogFile;
    *Test::Nginx::Util::AccLogFile          = \$AccLogFile;
    *Test::Nginx::Util::ConfFile            = \$ConfFile;
    *Test::Nginx::Util::PidFile             = \$PidFile;
    *Test::Nginx::Util::ServerAddr          = \$ServerAddr;
    *Test::Nginx::Util::ServerName          = \$ServerName;
    *Test::Nginx::Util::RepeatEach          = \$RepeatEach;
    *Test::Nginx::Util::NoLongString        = \$NoLongString;
    *Test::Nginx::Util::Verbose             = \$Verbose;
    *Test::Nginx::Util::NginxBinary         = \$NginxBinary;
    $INC{'Test/Nginx/Util.pm'} ||= __FILE__;
}

# runtime state
our $ChildPid;            # nginx master (also its process group id)
our $ChildStatus;         # wait status once reaped
our $ErrLogPos = 0;
our $StderrPos = 0;
our $NginxVersion;        # canonical, e.g. 1.022001
our $NginxRawVersion;
our $HasDashE = 0;
our $PrevSetup;           # for blocks without --- config
our $CleaningUp = 0;
our $TotalFailuresToStart = 0;

# ---------------------------------------------------------------------------
# Exports
# ---------------------------------------------------------------------------

my @TestMoreExports = qw(
    ok isnt like unlike is_deeply cmp_ok skip todo_skip pass fail
    eq_array eq_hash eq_set can_ok isa_ok diag use_ok
);

our @EXPORT = qw(
    plan is blocks
    env_to_nginx is_str run_tests run_test
    repeat_each config_preamble worker_connections master_process_enabled
    no_long_string workers master_on master_off
    log_level no_shuffle no_root_location use_hup
    server_name server_addr server_root html_dir server_port
    server_port_for_client timeout no_nginx_manager check_accum_error_log
    add_block_preprocessor bail_out add_cleanup_handler
    add_response_body_check no_diff
);

my $ImportCalled = 0;

sub import {
    my $class = shift;
    my @args = @_;
    my $caller = caller;

    if (grep { /^-base$/i } @args) {
        # "use Test::Nginx::Socket -Base" in a subclass: make it inherit and
        # re-export.
        no strict 'refs';
        push @{"${caller}::ISA"}, $class unless $caller->isa($class);
        *{"${caller}::import"} = \&import;
        @args = grep { !/^-base$/i } @args;
        _export_to($caller);
        return;
    }

    _export_to($caller);

    if (@args) {
        Test::More::plan(@args);
    }

    # Test::Base prepends "use strict; use warnings;" to the test file.
    if (!$ImportCalled) {
        $ImportCalled = 1;
        _strict_warnings();
    }
}

sub _export_to {
    my $pkg = shift;
    no strict 'refs';
    for my $name (@TestMoreExports) {
        *{"${pkg}::$name"} = \&{"Test::More::$name"};
    }
    *{"${pkg}::TODO"} = \$Test::More::TODO;
    for my $name (@EXPORT) {
        *{"${pkg}::$name"} = \&{"Test::Nginx::Socket::$name"};
    }
}

sub _strict_warnings {
    require Filter::Util::Call;
    my $done = 0;
    Filter::Util::Call::filter_add(sub {
        return 0 if $done;
        my ($data, $end) = ('', '');
        while (my $status = Filter::Util::Call::filter_read()) {
            return $status if $status < 0;
            if (/^__(?:END|DATA)__\r?$/) {
                $end = $_;
                last;
            }
            $data .= $_;
            $_ = '';
        }
        $_ = "use strict;use warnings;$data$end";
        $done = 1;
    });
}

# ---------------------------------------------------------------------------
# Configuration functions
# ---------------------------------------------------------------------------

sub plan { goto &Test::More::plan }
sub no_diff { $ENV{TEST_SHOW_NO_DIFFS} = 1 }

sub is ($$;$) {
    my ($got, $expected, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    return Test::More::is($got, $expected, $name);
}

sub is_str {
    my ($got, $expected, $desc) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    if (ref $expected && ref $expected eq 'Regexp') {
        return Test::More::like($got, $expected, $desc);
    }
    return Test::More::is($got, $expected, $desc);
}

sub repeat_each (@) { $RepeatEach = shift if @_; return $RepeatEach }
sub no_shuffle () { $NoShuffle = 1 }
sub no_long_string () { $NoLongString = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub master_on () { $MasterProcessEnabled = 'on' }
sub master_off () { $MasterProcessEnabled = 'off' }
sub master_process_enabled (@) {
    if (@_) { $MasterProcessEnabled = shift() ? 'on' : 'off'; return }
    return $MasterProcessEnabled;
}
sub workers (@) { if (@_) { $Workers = shift; return } $Workers }
sub worker_connections (@) {
    if (@_) { $WorkerConnections = shift; return } $WorkerConnections
}
sub log_level (@) { if (@_) { $LogLevel = shift; return } $LogLevel }
sub timeout (@) { if (@_) { $Timeout = shift; return } $Timeout }
sub config_preamble ($) { $ConfigPreamble = shift }
sub check_accum_error_log () { $CheckAccumErrLog = 1 }
sub server_name (@) { if (@_) { $ServerName = shift; return } $ServerName }
sub server_addr (@) { if (@_) { $ServerAddr = shift; return } $ServerAddr }
sub server_root () { $ServRoot }
sub html_dir () { $HtmlDir }
sub server_port (@) {
    if (@_) {
        $ServerPort = shift;
        $ServerPortForClient = $ServerPort;
        $PortWasAutoPicked = 0;
        $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
        return;
    }
    $ServerPort;
}
sub server_port_for_client (@) {
    if (@_) { $ServerPortForClient = shift; return } $ServerPortForClient
}
sub use_hup () {
    Test::More::diag("use_hup() is not supported by the Test::Nginx shim; "
                     . "every block gets a freshly started nginx");
}
sub no_nginx_manager () {
    bail_out("no_nginx_manager() is not supported by the Test::Nginx shim");
}
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($) { unshift @CleanupHandlers, shift }
sub add_response_body_check ($) { push @ResponseBodyChecks, shift }

sub env_to_nginx (@) {
    if (!@_) {
        require Carp;
        Carp::croak("env_to_nginx: no arguments specified");
    }
    for my $v (@_) {
        if ($v !~ /^[A-Za-z_]/ || $v =~ /\n/) {
            require Carp;
            Carp::croak("env_to_nginx: bad argument value: $v\n");
        }
        push @EnvToNginx, $v;
    }
}

sub bail_out (@) {
    cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------------
# Test::Base-compatible block parsing
# ---------------------------------------------------------------------------

package Test::Nginx::Socket::Block;

our $AUTOLOAD;

sub new { bless { _values => {}, _order => [], _filters => {} }, shift }

sub set_value {
    my ($self, $key, @vals) = @_;
    push @{ $self->{_order} }, $key unless exists $self->{_values}{$key};
    $self->{_values}{$key} = [@vals];
    return;
}

sub has_section { exists $_[0]->{_values}{$_[1]} }
sub sections { @{ $_[0]->{_order} } }

sub _get {
    my ($self, $key) = @_;
    my $v = $self->{_values}{$key};
    return unless $v;
    return wantarray ? @$v : $v->[0];
}

sub name        { my $s = shift; $s->_get('name') }
sub description { my $s = shift; $s->_get('description') }

sub AUTOLOAD {
    my $self = shift;
    my $name = $AUTOLOAD;
    $name =~ s/.*:://;
    return if $name eq 'DESTROY';
    if (@_) {
        require Carp;
        Carp::croak("Not allowed to set values for '$name'");
    }
    my $v = $self->{_values}{$name};
    return unless $v;
    return wantarray ? @$v : $v->[0];
}

package Test::Base::Filter;
# Section filters.  String-"eval" filter code is compiled in this package
# (under strict and warnings) exactly as with the real Test::Base, so
# refer to main-package things as $::var / main::func().

sub _eval_code {
    my ($code) = @_;
    ## no critic
    my @ret = eval "package Test::Base::Filter; use strict; use warnings;\n#line 1 \"eval filter\"\n$code";
    die $@ if $@;
    return @ret;
}

package Test::Nginx::Socket;

my $BlockList;
my @SkippedBlocks;
my $OnlyFound;

sub _read_spec {
    my $spec;
    {
        no warnings 'once';
        local $/;
        if (defined fileno(main::DATA)) {
            $spec = <main::DATA>;
        }
    }
    if (!defined $spec) {
        open my $in, '<', $0 or die "cannot open $0: $!";
        local $/;
        my $src = <$in>;
        close $in;
        if ($src =~ /^__(?:DATA|END)__\r?\n(.*)\z/ms) {
            $spec = $1;
        } else {
            $spec = '';
        }
    }
    return $spec;
}

sub _block_list {
    return $BlockList if $BlockList;
    my $spec = _read_spec();

    if ($spec =~ s/\A\s*<<<(.*?)>>>\s*$//sm) {
        my $code = $1;
        eval "package main; $code";
        die $@ if $@;
    }

    my @hunks = ($spec =~ /^(===.*?(?=^===|\z))/msg);
    my @blocks;
    for my $hunk (@hunks) {
        my $block = _make_block($hunk);
        if ($block->has_section('ONLY')) {
            Test::More::diag("I found ONLY: maybe you're debugging?");
            @blocks = ($block);
            @SkippedBlocks = ();
            $OnlyFound = 1;
            last;
        }
        if ($block->has_section('SKIP')) {
            push @SkippedBlocks, $block;
            next;
        }
        push @blocks, $block;
        last if $block->has_section('LAST');
    }
    my $seq = 1;
    $_->{seq_num} = $seq++ for @blocks;
    $BlockList = \@blocks;
    return $BlockList;
}

sub _make_block {
    my $hunk = shift;
    my $block = Test::Nginx::Socket::Block->new;
    $hunk =~ s/\A===[ \t]*(.*)\s+// or die "bad block: $hunk";
    my $name = $1;
    my @parts = split /^--- +\(?(\w+)\)? *(.*)?\n/m, $hunk;
    my $description = shift @parts;
    $description = '' unless defined $description;
    $description = $name unless $description =~ /\S/;
    $description =~ s/\s*\z//;
    $block->set_value(description => $description);

    while (@parts) {
        my ($type, $filters, $value) = splice(@parts, 0, 3);
        if ($type =~ /^_/ || $type =~ /^(?:new|name|description|set_value|AUTOLOAD|DESTROY)$/) {
            die "'$type' is a reserved name. Use something else.\n";
        }
        $value = '' unless defined $value;
        $filters = '' unless defined $filters;
        if ($filters =~ /:(\s|\z)/) {
            die "Extra lines not allowed in '$type' section\n"
                if $value =~ /\S/;
            ($filters, $value) = split /\s*:(?:\s+|\z)/, $filters, 2;
            $value = '' unless defined $value;
            $value =~ s/^\s*(.*?)\s*$/$1/;
        }
        $block->{_filters}{$type} = $filters;
        $block->set_value($type, $value);
    }
    $block->set_value(name => $name);
    return $block;
}

sub _run_filters {
    my $block = shift;
    return if $block->{_filtered};
    $block->{_filtered} = 1;
    for my $type ($block->sections) {
        next if $type eq 'name' || $type eq 'description';
        my $fstr = $block->{_filters}{$type};
        next unless defined $fstr;
        my @value = @{ $block->{_values}{$type} };
        my @filters = ('norm', 'trim');
        $fstr =~ s/^\s+|\s+$//g;
        for my $f (split /\s+/, $fstr) {
            next unless length $f;
            if ($f =~ s/^-//) {
                @filters = grep { $_ ne $f } @filters;
            } else {
                $f =~ s/^\+//;
                push @filters, $f;
            }
        }
        for my $filter (@filters) {
            my $arg;
            $arg = $1 if $filter =~ s/=(.*)$//;
            my $ok = eval { @value = _apply_filter($filter, $arg, @value); 1 };
            if (!$ok) {
                my $err = $@;
                chomp $err;
                $block->{_filter_errors} ||= [];
                push @{ $block->{_filter_errors} },
                    "section '--- $type' filter '$filter' failed: $err";
                @value = (undef);
                last;
            }
        }
        $block->{_values}{$type} = [@value];
    }
}

sub _apply_filter {
    my ($filter, $arg, @value) = @_;
    no strict 'refs';
    if (defined &{"main::$filter"}) {
        local $_ = (@value == 1 && !defined $value[0]) ? undef : join '', @value;
        my $old = $_;
        my @ret = &{"main::$filter"}(@value);
        if (!@ret or (@ret == 1 and defined $ret[0] and $ret[0] =~ /\A(\d+|)\z/)) {
            @ret = ($_);
        }
        return @ret;
    }
    if ($filter eq 'norm') {
        my $t = join '', map { defined $_ ? $_ : '' } @value;
        $t =~ s/\015\012/\n/g;
        $t =~ s/\r/\n/g;
        return ($t);
    }
    if ($filter eq 'trim') {
        return map { my $s = $_; if (defined $s) { $s =~ s/\A([ \t]*\n)+//; $s =~ s/(?<=\n)\s*\z//g } $s } @value;
    }
    if ($filter eq 'chomp') {
        return map { my $s = $_; chomp $s if defined $s; $s } @value;
    }
    if ($filter eq 'chop') {
        return map { my $s = $_; chop $s if defined $s; $s } @value;
    }
    if ($filter eq 'unchomp') {
        return map { $_ . "\n" } @value;
    }
    if ($filter eq 'eval') {
        die "Input to the 'eval' filter must be a scalar, not a list\n" if @value != 1;
        return Test::Base::Filter::_eval_code($value[0]);
    }
    if ($filter eq 'escape') {
        my $t = $value[0];
        $t =~ s/(\\.)/eval "qq{$1}"/ge;
        return ($t);
    }
    if ($filter eq 'base64_decode') {
        require MIME::Base64;
        return (MIME::Base64::decode_base64($value[0]));
    }
    if ($filter eq 'base64_encode') {
        require MIME::Base64;
        return (MIME::Base64::encode_base64($value[0]));
    }
    if ($filter eq 'lines') {
        my $t = $value[0];
        return () unless length $t;
        return ($t =~ /^(.*\n?)/gm);
    }
    if ($filter eq 'array') {
        return ([@value]);
    }
    if ($filter eq 'join') {
        return (join(defined $arg ? $arg : '', @value));
    }
    if ($filter eq 'append') {
        return map { $_ . (defined $arg ? $arg : '') } @value;
    }
    if ($filter eq 'prepend') {
        return map { (defined $arg ? $arg : '') . $_ } @value;
    }
    if ($filter eq 'regexp') {
        my $t = $value[0];
        my $flags = $arg;
        if ($t =~ /\n.*?\n/s) {
            $flags = 'xism' unless defined $flags;
        } else {
            chomp $t;
        }
        $flags ||= '';
        my $re = eval "qr{$t}$flags";
        die $@ if $@;
        return ($re);
    }
    die "Can't find a function or method for '$filter' filter\n";
}

sub blocks () {
    my $list = _block_list();
    return scalar(@$list) unless wantarray;
    _run_filters($_) for @$list;
    return @$list;
}

# ---------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------

sub _tb { Test::Builder->new }

sub _explicit_plan {
    my $p = _tb()->has_plan;
    return defined $p && $p =~ /^\d+$/;
}

# Extra (shim-only) strictness checks: under 'no_plan' they are always
# reported; under an explicit numeric plan only failures are reported, so
# that plans computed for the real Test::Nginx stay valid.
sub _strict_check {
    my ($ok, $name, @diag) = @_;
    if ($ok) {
        Test::More::pass($name) unless _explicit_plan();
        return 1;
    }
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::fail($name);
    Test::More::diag($_) for grep { defined && length } @diag;
    return 0;
}

sub _fail_extra {
    my ($name, @diag) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::fail($name);
    Test::More::diag($_) for grep { defined && length } @diag;
}

sub fmt_str ($) {
    my $str = shift;
    $str = "$str";
    chomp $str;
    $str =~ s/"/\\"/g;
    $str =~ s/\r/\\r/g;
    $str =~ s/\n/\\n/g;
    $str;
}

sub trim_str ($) {
    my $s = shift;
    return undef if !defined $s;
    $s =~ s/^\s+|\s+$//g;
    $s =~ s/\n/ /gs;
    $s =~ s/\s{2,}/ /gs;
    $s;
}

sub parse_time ($) {
    my $tm = shift;
    if (defined $tm) {
        if ($tm =~ s/([^_a-zA-Z])ms$/$1/) {
            $tm = $tm / 1000;
        } elsif ($tm =~ s/([^_a-zA-Z])s$/$1/) {
        }
    }
    return $tm;
}

sub pick_free_port {
    for (1 .. 200) {
        my $port = 10000 + int(rand(20000));
        next if _port_listening($port);
        my $sock = IO::Socket::INET->new(
            LocalAddr => '127.0.0.1',
            LocalPort => $port,
            Proto     => 'tcp',
            Listen    => 1,
            ReuseAddr => 0,
        );
        if ($sock) {
            close $sock;
            return $port;
        }
    }
    die "Test::Nginx shim: cannot find a free TCP port on 127.0.0.1\n";
}

# Is somebody listening on 127.0.0.1:$port (or the wildcard address)?
# Uses /proc/net/tcp{,6} so that no connection is made (a probe connection
# would leave "client closed connection" lines in nginx's info log).
sub _port_listening {
    my $port = shift;
    my $hexport = sprintf '%04X', $port;
    my $found_proc = 0;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $in, '<', $f or next;
        $found_proc = 1;
        while (<$in>) {
            my @f = split ' ';
            next unless @f > 3;
            my ($addr, $st) = ($f[1], $f[3]);
            next unless $st eq '0A';
            my ($ip, $p) = split /:/, $addr;
            next unless defined $p && $p eq $hexport;
            return 1;
        }
        close $in;
    }
    if (!$found_proc) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Proto => 'tcp', Timeout => 0.5);
        if ($s) { close $s; return 1 }
    }
    return 0;
}

sub get_nginx_version {
    if ($NginxBinary =~ m{/} && !(-f $NginxBinary && -x _)) {
        bail_out("nginx binary \"$NginxBinary\" (TEST_NGINX_BINARY) does not exist or is not executable");
    }
    my $out = `$NginxBinary -V 2>&1`;
    if (!defined $out || $? != 0) {
        $out = '' unless defined $out;
        bail_out("Failed to get the version of the nginx binary "
                 . "\"$NginxBinary\" (TEST_NGINX_BINARY): $out");
    }
    if ($out =~ m{(?:nginx|openresty)[^/]*/(\d+)\.(\d+)\.(\d+)}s
        || $out =~ m{\w+/(\d+)\.(\d+)\.(\d+)}s)
    {
        $NginxRawVersion = "$1.$2.$3";
        $NginxVersion = sprintf "%d.%03d%03d", $1, $2, $3;
        $HasDashE = $NginxVersion >= 1.019005 ? 1 : 0;
        return $NginxVersion;
    }
    bail_out("Failed to parse the output of \"nginx -V\": $out\n");
}

sub expand_env_in_text ($$) {
    my ($text, $name) = @_;
    return undef if !defined $text;
    return $text if ref $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        my $var = $1;
        if (!defined $ENV{$var}) {
            bail_out("$name - No environment $var defined.\n");
        }
        if ($var eq 'TEST_NGINX_HTML_DIR' && $HtmlDirAutoSet == 1) {
            $HtmlDirAutoSet = 2;
            Test::More::diag("NOTE: \$TEST_NGINX_HTML_DIR was set by the shim; the real "
                . "Test::Nginx bails out unless the .t file (or the environment) sets it. "
                . "Add  \$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();  before run_tests().");
        }
        $ENV{$var};
    }ge;
    return $text;
}

sub _read_file {
    my ($file, $pos) = @_;
    open my $in, '<', $file or return ([], $pos);
    binmode $in;
    seek $in, $pos, 0 if $pos;
    my @lines = <$in>;
    my $newpos = tell $in;
    close $in;
    return (\@lines, $newpos);
}

# Lines written to error.log (and nginx's stderr) since the last call.
sub error_log_data () {
    sleep $TestNginxSleep * 3;
    my ($l1, $p1) = _read_file($ErrLogFile, $CheckAccumErrLog ? 0 : $ErrLogPos);
    my ($l2, $p2) = _read_file($StderrFile, $CheckAccumErrLog ? 0 : $StderrPos);
    if (!$CheckAccumErrLog) {
        $ErrLogPos = $p1;
        $StderrPos = $p2;
    }
    return [@$l1, _dedup_stderr($l2)];
}

# While parsing its configuration nginx also echoes messages to stderr as
# "nginx: [level] message"; drop those echoes of lines that are in
# error.log.  Everything else on stderr (e.g. Rust panic messages) is kept.
sub _dedup_stderr {
    my ($lines) = @_;
    return () unless @$lines;
    my ($all) = _read_file($ErrLogFile, 0);
    my %seen;
    for my $l (@$all) {
        if ($l =~ /^\S+ \S+ \[(\w+)\] \d+#\d+: (?:\*\d+ )?(.*?)\s*$/) {
            $seen{"$1 $2"} = 1;
        }
    }
    return grep {
        !(/^nginx: \[(\w+)\] (.*?)\s*$/ && $seen{"$1 $2"})
    } @$lines;
}

sub _all_log_lines {
    my ($l1) = _read_file($ErrLogFile, 0);
    my ($l2) = _read_file($StderrFile, 0);
    return [@$l1, _dedup_stderr($l2)];
}

sub access_log_data () {
    sleep $TestNginxSleep * 3;
    my ($l) = _read_file($AccLogFile, 0);
    return $l;
}

sub _log_tail {
    my $n = shift || 20;
    my $lines = _all_log_lines();
    my @t = @$lines > $n ? @$lines[-$n .. -1] : @$lines;
    return join '', map { "    $_" } @t;
}

# ---------------------------------------------------------------------------
# Process management
# ---------------------------------------------------------------------------

sub _set_subreaper {
    my %nr = ('x86_64' => 157, 'aarch64' => 167);
    my ($arch) = $Config::Config{archname} =~ /^([^-]+)/;
    return unless $^O eq 'linux' && $arch && $nr{$arch};
    local $!;
    syscall($nr{$arch}, 36, 1, 0, 0, 0);    # prctl(PR_SET_CHILD_SUBREAPER, 1)
}

sub _pids_in_pgrp {
    my $pgrp = shift;
    my @pids;
    opendir my $d, '/proc' or return;
    for my $p (readdir $d) {
        next unless $p =~ /^\d+$/;
        next if $p == $$;
        open my $in, '<', "/proc/$p/stat" or next;
        my $stat = <$in>;
        close $in;
        next unless defined $stat;
        # pid (comm) state ppid pgrp ...
        if ($stat =~ /\)\s+\S+\s+(\d+)\s+(\d+)/) {
            push @pids, [$p, $1] if $2 == $pgrp;
        }
    }
    closedir $d;
    return @pids;
}

sub _reap_pgrp {
    my $pgrp = shift;
    for my $p (_pids_in_pgrp($pgrp)) {
        my ($pid, $ppid) = @$p;
        waitpid($pid, WNOHANG) if $ppid == $$;
    }
}

sub _child_alive {
    return 0 unless defined $ChildPid;
    return 0 if defined $ChildStatus;
    my $r = waitpid($ChildPid, WNOHANG);
    if ($r == $ChildPid) {
        $ChildStatus = $?;
        return 0;
    }
    if ($r == -1) {
        $ChildStatus = -1;
        return 0;
    }
    return 1;
}

sub start_nginx {
    my ($name) = @_;
    undef $ChildStatus;
    open my $errfh, '>>', $StderrFile or bail_out("cannot open $StderrFile: $!");
    my @cmd = ($NginxBinary, '-p', "$ServRoot/", '-c', $ConfFile);
    push @cmd, '-e', $ErrLogFile if $HasDashE;
    unshift @cmd, valgrind_command() if $UseValgrind;
    warn "starting: @cmd\n" if $Verbose;
    my $pid = fork();
    if (!defined $pid) {
        bail_out("$name - fork() failed: $!");
    }
    if ($pid == 0) {
        eval {
            POSIX::setpgid(0, 0);
            $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP QUIT PIPE CHLD);
            open STDIN, '<', '/dev/null';
            open STDOUT, '>&', $errfh;
            open STDERR, '>&', $errfh;
            exec { $cmd[0] } @cmd;
        };
        print STDERR "exec $cmd[0] failed: $!\n";
        POSIX::_exit(127);
    }
    close $errfh;
    POSIX::setpgid($pid, $pid);    # avoid the race with the child
    $ChildPid = $pid;
    return $pid;
}

# Wait until nginx listens on the port (returns 'up'), exits (returns
# 'exited'), or the timeout expires (returns 'timeout').
sub wait_nginx_up {
    my ($max) = @_;
    my $deadline = time + $max;
    while (1) {
        if (!_child_alive()) {
            return 'exited';
        }
        if (_port_listening($ServerPort)) {
            # make sure it is our nginx, not somebody else
            return 'up';
        }
        return 'timeout' if time > $deadline;
        # reading /proc/net/tcp costs milliseconds of system time on a busy
        # machine: poll less often while valgrind starts nginx (seconds)
        sleep($UseValgrind ? 0.1 : 0.01);
    }
}

sub wait_nginx_exit {
    my ($max) = @_;
    my $deadline = time + $max;
    while (_child_alive()) {
        return 0 if time > $deadline;
        sleep 0.01;
    }
    return 1;
}

# Stop nginx: SIGQUIT, wait, then SIGKILL the whole process group.
# Returns ($status, $killed).
sub stop_nginx {
    return (undef, 0) unless defined $ChildPid;
    my $pid = $ChildPid;
    my $killed = 0;
    if (_child_alive()) {
        kill 'QUIT', $pid;
        my $exited;
        if ($UseValgrind) {
            # With master_process off, nginx checks its quit flag only after
            # epoll_wait() returns: a SIGQUIT handled just before it blocks
            # there (no timer pending) is logged but not acted upon.  Valgrind
            # delivers signals at the next syscall, which makes that window
            # wide.  Repeat the signal until nginx exits.
            my $deadline = time + $StopTimeout;
            until ($exited = wait_nginx_exit(2)) {
                last if time > $deadline;
                warn "nginx (pid $pid) still running 2s after SIGQUIT: sending it again\n"
                    if $Verbose;
                kill 'QUIT', $pid;
            }
        } else {
            $exited = wait_nginx_exit($StopTimeout);
        }
        if (!$exited) {
            $killed = 1;
            kill 'KILL', -$pid;
            kill 'KILL', $pid;
            waitpid($pid, 0) if !defined $ChildStatus;
            $ChildStatus = $? if !defined $ChildStatus;
        }
    }
    # orphaned workers (e.g. the master was killed) share the process group
    if (my @left = _pids_in_pgrp($pid)) {
        $killed ||= 2;
        kill 'KILL', -$pid;
        my $deadline = time + 2;
        while (time < $deadline && _pids_in_pgrp($pid)) {
            _reap_pgrp($pid);
            sleep 0.01;
        }
    }
    _reap_pgrp($pid);
    my $status = $ChildStatus;
    undef $ChildPid;
    return ($status, $killed);
}

sub cleanup () {
    return if $CleaningUp;
    local $CleaningUp = 1;
    local ($?, $!, $@);
    for my $hdl (@CleanupHandlers) {
        eval { $hdl->() };
    }
    stop_nginx() if defined $ChildPid;
}

my $OrigPid = $$;
END {
    if ($$ == $OrigPid) {
        my $st = $?;
        cleanup();
        $? = $st;
    }
}

for my $sig (qw(INT TERM HUP)) {
    $SIG{$sig} = sub {
        cleanup();
        $SIG{$sig} = 'DEFAULT';
        my $num = eval "POSIX::SIG$sig()";
        POSIX::sigprocmask(POSIX::SIG_UNBLOCK(), POSIX::SigSet->new($num));
        kill $sig, $$;
        POSIX::_exit(128 + $num);
    };
}
$SIG{PIPE} = 'IGNORE';


# ---------------------------------------------------------------------------
# Valgrind mode
# ---------------------------------------------------------------------------

our %ValgrindChecked;     # valgrind logs of the current servroot already checked
our $ValgrindRuns = 0;

# The default suppression file: t/valgrind.suppress next to t/lib.
sub _valgrind_suppressions {
    if (defined $ENV{TEST_NGINX_VALGRIND_SUPPRESS}) {
        return grep { length } split /:/, $ENV{TEST_NGINX_VALGRIND_SUPPRESS};
    }
    my $dir = File::Spec->rel2abs(__FILE__);
    $dir =~ s{/[^/]+$}{};                         # t/lib/Test/Nginx
    my $f = "$dir/../../../valgrind.suppress";     # t/valgrind.suppress
    return -f $f ? (Cwd::abs_path($f)) : ();
}

sub valgrind_command () {
    my @cmd = ($ENV{TEST_NGINX_VALGRIND_BINARY} || 'valgrind',
               '-q', '--tool=memcheck', '--num-callers=100',
               '--leak-check=full',
               # "possibly lost" and "still reachable" are not reported: nginx
               # keeps process-lifetime allocations (and interior pointers
               # into its pools) until exit, OpenSSL its global state
               '--show-leak-kinds=definite,indirect',
               '--errors-for-leak-kinds=definite,indirect',
               # the module is dlclose()d before the leak check: keep its
               # symbols so that leak stacks still name its functions
               '--keep-debuginfo=yes',
               '--fullpath-after=',
               '--gen-suppressions=all',
               "--log-file=$LogDir/valgrind.%p.log");
    push @cmd, "--suppressions=$_" for _valgrind_suppressions();
    push @cmd, split ' ', $ENV{TEST_NGINX_VALGRIND_OPTS} if defined $ENV{TEST_NGINX_VALGRIND_OPTS};
    # as with the real module, a non-numeric TEST_NGINX_USE_VALGRIND holds
    # valgrind options (added to ours here)
    push @cmd, split ' ', $UseValgrind if $UseValgrind !~ /^\s*\d+\s*$/;
    return @cmd;
}

sub _valgrind_check_binary {
    my $vg = $ENV{TEST_NGINX_VALGRIND_BINARY} || 'valgrind';
    my $out = `$vg --version 2>&1`;
    if (!defined $out || $? != 0) {
        bail_out("TEST_NGINX_USE_VALGRIND is set but \"$vg --version\" failed; install valgrind "
                 . "(apt-get install valgrind)");
    }
    for my $f (_valgrind_suppressions()) {
        bail_out("valgrind suppression file not found: $f") unless -f $f;
    }
}

# Splits a valgrind log into records (one error, leak or warning each).
sub _valgrind_records {
    my ($file) = @_;
    my ($lines) = _read_file($file, 0);
    my (@recs, $cur);
    for my $l (@$lines) {
        if ($l =~ /^==\d+==(?: (.*))?$/) {
            my $t = defined $1 ? $1 : '';
            if ($t !~ /\S/) { undef $cur; next }
            if (!$cur) {
                $cur = { head => $t, lines => [] };
                push @recs, $cur;
            }
            push @{ $cur->{lines} }, $l;
        } elsif (@recs) {
            # --gen-suppressions output (not prefixed) belongs to the record above
            push @{ $recs[-1]{lines} }, $l;
        }
    }
    return \@recs;
}

# Does a record have a frame in the module under test?  Rust code only
# exists in the module (nginx, OpenSSL and libc are C), so any .rs frame
# counts, as do frames in the module's .so and its symbols.
sub _valgrind_in_module {
    my ($rec) = @_;
    my @mods = map { (my $b = $_) =~ s{.*/}{}; $b }
               grep { length } split /\s+/, ($LoadModules || '');
    for my $l (@{ $rec->{lines} }) {
        next unless $l =~ /^==\d+==\s+(?:at|by) 0x[0-9A-Fa-f]+: (.*)$/;
        my $f = $1;
        return 1 if $f =~ /\.rs:\d+\)\s*$/ || $f =~ /ngx_http_auth_jwt|auth_jwt_core/;
        for my $m (@mods) {
            return 1 if $f =~ m{\(in \S*/\Q$m\E\)};
        }
    }
    return 0;
}

# After each nginx run of a block: fail the block when the valgrind log has
# an error or a definite/indirect leak that is not suppressed.
sub check_valgrind {
    my ($block) = @_;
    return unless $UseValgrind;
    my $name = $block->name;
    my @logs = grep { !$ValgrindChecked{$_} } sort glob("$LogDir/valgrind.*.log");
    $ValgrindChecked{$_} = 1 for @logs;
    $ValgrindRuns++;
    my (@errors, @leaks, @warnings);
    my ($mod_errors, $mod_leaks) = (0, 0);
    for my $log (@logs) {
        for my $rec (@{ _valgrind_records($log) }) {
            my $h = $rec->{head};
            next if $h =~ /are (?:possibly lost|still reachable) in loss record/;
            if ($h =~ /are (?:definitely|indirectly) lost in loss record/) {
                push @leaks, $rec;
                $mod_leaks++ if _valgrind_in_module($rec);
            } elsif ($h =~ /^warning\b/i) {
                push @warnings, $rec;
            } else {
                push @errors, $rec;
                $mod_errors++ if _valgrind_in_module($rec);
            }
        }
    }
    if (!@logs) {
        push @errors, { head => 'no valgrind log was written', lines => [
            "no $LogDir/valgrind.*.log (did nginx run under valgrind?)\n"] };
    }

    my $saved = '';
    if (@errors || @leaks) {
        my $dir = "$ServRoot/valgrind";
        make_path($dir) unless -d $dir;
        (my $tag = $block->name) =~ s/^.*?\s(?=TEST)//;
        $tag =~ s/[^A-Za-z0-9]+/-/g;
        $tag = substr($tag, 0, 40);
        for my $log (@logs) {
            (my $base = $log) =~ s{.*/}{};
            my $dst = sprintf '%s/%03d-%s-%s', $dir, $ValgrindRuns, $tag, $base;
            require File::Copy;
            File::Copy::copy($log, $dst);
            $saved .= "    $dst\n";
        }
    }

    if (my $sum = $ENV{TEST_NGINX_VALGRIND_SUMMARY}) {
        if (open my $out, '>>', $sum) {
            require Fcntl;
            flock $out, Fcntl::LOCK_EX();
            (my $n = $name) =~ s/[\t\n]+/ /g;
            printf $out "run\t%s\terrors=%d\tleaks=%d\tmodule_errors=%d\tmodule_leaks=%d\twarnings=%d\n",
                $n, scalar @errors, scalar @leaks, $mod_errors, $mod_leaks, scalar @warnings;
            for my $rec (@errors, @leaks) {
                my $in = _valgrind_in_module($rec) ? 'module' : 'other';
                (my $h = $rec->{head}) =~ s/[\t\n]+/ /g;
                print $out "record\t$n\t$in\t$h\n";
            }
            close $out;
        }
    }

    my @diag;
    if (@errors || @leaks) {
        push @diag, sprintf("valgrind: %d error(s), %d definite/indirect leak(s); "
                            . "%d error(s) and %d leak(s) with a frame in the module",
                            scalar @errors, scalar @leaks, $mod_errors, $mod_leaks);
        my $shown = 0;
        for my $rec (@errors, @leaks) {
            last if ++$shown > 5;
            my @l = grep { /^==/ } @{ $rec->{lines} };
            @l = (@l[0 .. 39], "    ...\n") if @l > 40;
            push @diag, join '', map { "    $_" } @l;
        }
        push @diag, "valgrind logs kept in:\n$saved" if length $saved;
    }
    Test::More::diag("valgrind warning: $_->{head}") for @warnings;
    _strict_check(!@errors && !@leaks,
                  "$name - valgrind: no memory error and no definite/indirect leak", @diag);
}

# ---------------------------------------------------------------------------
# Server root and config
# ---------------------------------------------------------------------------

sub setup_server_root () {
    if (-d $ServRoot) {
        remove_tree($ConfDir, $HtmlDir, $LogDir,
                    glob("$ServRoot/*_cache"), glob("$ServRoot/*_temp"));
    } else {
        make_path($ServRoot) or bail_out("Failed to do mkdir $ServRoot: $!");
    }
    for my $d ($LogDir, $HtmlDir, $ConfDir) {
        mkdir $d or bail_out("Failed to do mkdir $d: $!");
    }
    my $index = "$HtmlDir/index.html";
    open my $out, '>', $index or bail_out("Can't open $index for writing: $!");
    print $out '<html><head><title>It works!</title></head><body>It works!</body></html>';
    close $out;
    $ErrLogPos = 0;
    $StderrPos = 0;
    %ValgrindChecked = ();
}

sub write_user_files ($$) {
    my ($name, $files) = @_;
    return unless $files;
    if (!ref $files) {
        my @list;
        my ($fname, $body, $date);
        for my $line (split /^/m, $files) {
            if ($line =~ /^>>> (\S+)(?:[ \t]+(.+?))?\s*$/) {
                push @list, [$fname, $body, $date] if defined $fname;
                ($fname, $date, $body) = ($1, $2, undef);
            } else {
                if (!defined $fname) {
                    next if $line !~ /\S/;
                    bail_out("$name - --- user_files: content before the first '>>> file' line");
                }
                $body .= $line;
            }
        }
        push @list, [$fname, $body, $date] if defined $fname;
        $files = \@list;
    } elsif (ref $files ne 'ARRAY') {
        bail_out("$name - wrong value type for --- user_files: " . ref($files)
                 . ", only scalar or ARRAY are accepted");
    }
    for my $file (@$files) {
        my ($fname, $body, $date) = @$file;
        $body = '' unless defined $body;
        my $path = $fname =~ m{^/} ? $fname : "$HtmlDir/$fname";
        if ($path =~ m{(.*)/}) {
            my $dir = $1;
            if (!-d $dir) {
                make_path($dir) or bail_out("$name - Cannot create directory $dir");
            }
        }
        $body = expand_env_in_text($body, $name);
        open my $out, '>', $path or bail_out("$name - Cannot open $path for writing: $!");
        binmode $out;
        print $out $body;
        close $out;
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out("$name - failed to set the mtime of $path to $date");
        }
    }
}

sub _has_directive {
    my ($text, $dir) = @_;
    return defined $text && $text =~ /(?:^|[;{}\s])\Q$dir\E\s/m;
}

sub build_config ($$) {
    my ($block, $config) = @_;
    my $name = $block->name;

    my $http_config = expand_env_in_text($block->http_config, $name);
    my $main_config = expand_env_in_text($block->main_config, $name);
    my $post_main_config = expand_env_in_text($block->post_main_config, $name);
    my $server_name = $block->server_name;
    $server_name = $ServerName unless defined $server_name;
    $http_config = '' unless defined $http_config;
    $main_config = '' unless defined $main_config;
    $post_main_config = '' unless defined $post_main_config;
    $config = '' unless defined $config;

    my $level = $block->log_level;
    $level = $LogLevel unless defined $level && length $level;

    my $conf = "# generated by the Test::Nginx::Socket shim (t/lib)\n";
    # under valgrind there is a single nginx process (as with the real
    # Test::Nginx): memcheck follows it from start to exit, and it handles
    # SIGQUIT itself
    my $master = $UseValgrind ? 'off' : $MasterProcessEnabled;
    $conf .= "# valgrind mode: master_process off\n" if $UseValgrind;

    if ($LoadModules) {
        for my $m (grep { length } split /\s+/, $LoadModules) {
            $conf .= "load_module $m;\n";
        }
    }

    $conf .= <<_EOC_;
worker_processes  $Workers;
daemon off;
master_process $master;
error_log $ErrLogFile $level;
pid       $PidFile;
env MOCKEAGAIN_VERBOSE;
env MOCKEAGAIN;
env MOCKEAGAIN_WRITE_TIMEOUT_PATTERN;
env LD_PRELOAD;
env LD_LIBRARY_PATH;
env ASAN_OPTIONS;
env UBSAN_OPTIONS;
env RUST_BACKTRACE;
_EOC_
    for my $v (@EnvToNginx) {
        my $q = $v =~ /\s/ ? "'$v'" : $v;
        $conf .= "env $q;\n";
    }
    if (!_has_directive($main_config, 'lock_file')) {
        $conf .= "lock_file $LogDir/nginx.lock;\n";
    }
    if (!_has_directive($main_config, 'working_directory')) {
        # core dumps of crashing workers land in the servroot
        $conf .= "working_directory $ServRoot;\n";
    }
    if ($> == 0 && !_has_directive($main_config, 'user')) {
        $conf .= "user root;\n";
    }

    my $temps = '';
    for my $t (qw(client_body proxy fastcgi uwsgi scgi)) {
        next if _has_directive($http_config, "${t}_temp_path");
        $temps .= "    ${t}_temp_path $ServRoot/${t}_temp;\n";
    }

    my $root_location = '';
    if (!$NoRootLocation) {
        $root_location = <<_EOC_;
        location / {
            root $HtmlDir;
            index index.html index.htm;
        }
_EOC_
    }

    (my $qsn = $server_name) =~ s/\\/\\\\/g;
    $qsn =~ s/'/\\'/g;

    $conf .= <<_EOC_;

$main_config

events {
    accept_mutex off;
    worker_connections  $WorkerConnections;
}

http {
    access_log $AccLogFile;

    default_type text/plain;
    keepalive_timeout  68;
$temps
$http_config

    server {
        listen          $ServerAddr:$ServerPort;
        server_name     '$qsn';

        client_max_body_size 30M;

        # Begin preamble config...
$ConfigPreamble
        # End preamble config...

        # Begin test case config...
$config
        # End test case config.

$root_location    }
}

$post_main_config
_EOC_
    return $conf;
}

sub write_config_file ($) {
    my $conf = shift;
    open my $out, '>', $ConfFile or bail_out("Can't open $ConfFile for writing: $!");
    print $out $conf;
    close $out;
}

# ---------------------------------------------------------------------------
# Requests
# ---------------------------------------------------------------------------

sub parse_request ($$) {
    my ($name, $req) = @_;
    my ($first, $content) = split /\n/, $req, 2;
    $first .= "\n" if defined $content;
    if (!defined $first || $first eq '') {
        bail_out("$name - Request line should be non-empty");
    }
    my ($meth, $url, $ver);
    if ($first =~ /^(\s*)(\S+)( *)((\S+)( *))?((\S+)( *))?(\s*)$/) {
        ($meth, $url, $ver) = ($2, $5, $8);
    } else {
        bail_out("$name - Request line is not valid. Should be 'meth [url [version]]' "
                 . "but got \"$first\".");
    }
    $url = '/' unless defined $url;
    $ver = 'HTTP/1.1' unless defined $ver;
    $content = '' unless defined $content;
    return { method => $meth, url => $url, http_ver => $ver, content => $content };
}

sub parse_more_headers ($) {
    my ($in) = @_;
    my $out = '';
    my $is_chunked;
    for my $header (split /\n+/, $in) {
        next if $header =~ /^\s*\#/;
        my ($key, $val) = split /:\s*/, $header, 2;
        $val = '' unless defined $val;
        if (lc($key) eq 'transfer-encoding' and $val eq 'chunked') {
            $is_chunked = 1;
        }
        $out .= "$key: $val\r\n";
    }
    return ($out, $is_chunked);
}

# Returns the list of packets (strings / {value, delay_before}) for one
# request.
sub build_request ($$$$$) {
    my ($name, $more_headers, $is_chunked, $conn, $packets) = @_;
    my @vals = map { ref $_ ? $_->{value} : $_ } @$packets;
    my $whole = join '', map { defined $_ ? $_ : '' } @vals;
    my $p = parse_request($name, $whole);

    my $len_header = '';
    if (!$is_chunked && $p->{content} ne ''
        && $more_headers !~ /(?:^|\n)Content-Length:/)
    {
        $p->{content} =~ s/^\s+|\s+$//gs;
        $len_header = "Content-Length: " . length($p->{content}) . "\r\n";
    }
    my $headers = '';
    $headers .= "Host: $ServerName\r\n" if $more_headers !~ /(?:^|\n)Host:/msi;
    $headers .= "Connection: $conn\r\n" if $more_headers !~ /(?:^|\n)Connection/msi;
    $headers .= "$more_headers$len_header\r\n";
    my $head = "$p->{method} $p->{url} $p->{http_ver}\r\n$headers";

    if (@$packets == 1) {
        return [ { value => $head . $p->{content} } ];
    }

    # Several packets: keep the body split points of the original packets
    # (relative to the end of the request), head goes into the first one.
    my $body = $p->{content};
    my @out;
    my $consumed = 0;
    my $first_line_len = index($whole, "\n") >= 0 ? index($whole, "\n") + 1 : length $whole;
    my $body_off = 0;
    my $i = 0;
    for my $pk (@$packets) {
        my $v = ref $pk ? $pk->{value} : $pk;
        $v = '' unless defined $v;
        my $start = $consumed;
        my $end = $consumed + length $v;
        $consumed = $end;
        my $bstart = $start - $first_line_len;
        my $bend = $end - $first_line_len;
        $bstart = 0 if $bstart < 0;
        $bend = 0 if $bend < 0;
        # map original body offsets onto the (possibly trimmed) body
        my $piece = '';
        if ($bend > $bstart) {
            $piece = substr($body, $body_off, $bend - $bstart);
            $body_off += length $piece;
        }
        my $val = $i == 0 ? $head . $piece : $piece;
        if ($i == $#$packets && $body_off < length $body) {
            $val .= substr($body, $body_off);
        }
        my %h = ref $pk ? %$pk : ();
        $h{value} = $val;
        push @out, \%h;
        $i++;
    }
    return \@out;
}

sub get_req_from_block ($) {
    my ($block) = @_;
    my $name = $block->name;
    my @req_list;

    if (defined $block->raw_request) {
        my $rr = $block->raw_request;
        if (ref $rr && ref $rr eq 'ARRAY') {
            push @req_list, [ map { ref $_ ? $_ : { value => $_ } } @$rr ];
        } else {
            push @req_list, [ { value => $rr } ];
        }
        return \@req_list;
    }

    my $request = $block->request;
    if (defined $request && !ref $request) {
        while ($request =~ s/^\s*\#[^\n]+\s+|^\s+//gs) { }
    }
    my $more_headers = $block->more_headers;
    $more_headers = '' unless defined $more_headers;

    my $hdr_for = sub {
        my $i = shift;
        if (ref $more_headers eq 'ARRAY') {
            my $h = $more_headers->[$i];
            bail_out("$name - --- more_headers lacks data for the request #$i")
                unless defined $h;
            return parse_more_headers($h);
        }
        return parse_more_headers($more_headers);
    };

    if (defined $block->pipelined_requests) {
        my $reqs = $block->pipelined_requests;
        if (!ref $reqs || ref $reqs ne 'ARRAY') {
            bail_out("$name - invalid entries in --- pipelined_requests (use an array ref via eval)");
        }
        my $prq = '';
        for my $i (0 .. $#$reqs) {
            my $conn = $i == $#$reqs ? 'close' : 'keep-alive';
            my ($hdr, $chunked) = $hdr_for->($i);
            my $r = build_request($name, $hdr, $chunked, $conn, [ $reqs->[$i] ]);
            $prq .= $r->[0]{value};
        }
        push @req_list, [ { value => $prq } ];
        return \@req_list;
    }

    if (!defined $request) {
        bail_out("$name - request empty (no --- request, --- raw_request or --- pipelined_requests)");
    }

    if (!ref $request) {
        my ($hdr, $chunked) = $hdr_for->(0);
        push @req_list, build_request($name, $hdr, $chunked, 'close', [$request]);
    } elsif (ref $request eq 'ARRAY') {
        my $i = 0;
        for my $one (@$request) {
            my ($hdr, $chunked) = $hdr_for->($i);
            if (!ref $one) {
                push @req_list, build_request($name, $hdr, $chunked, 'close', [$one]);
            } elsif (ref $one eq 'ARRAY') {
                for my $pk (@$one) {
                    bail_out("$name - Invalid syntax. $pk should be a string or hash with value.")
                        if ref $pk && ref $pk ne 'HASH';
                }
                push @req_list, build_request($name, $hdr, $chunked, 'close', $one);
            } else {
                bail_out("$name - Invalid syntax. $one should be a string or an array of packets.");
            }
            $i++;
        }
    } else {
        bail_out("$name - invalid --- request: MUST be string or array of requests");
    }
    return \@req_list;
}

# Sends the packets over one connection and reads until the server closes
# the connection or $timeout seconds pass without any I/O.
sub send_request ($$$$) {
    my ($packets, $middle_delay, $timeout, $block) = @_;
    my $name = $block->name;

    my $sock = IO::Socket::INET->new(
        PeerAddr => $ServerAddr,
        PeerPort => $ServerPortForClient,
        Proto    => 'tcp',
        Timeout  => $timeout,
    );
    if (!$sock) {
        my $err = $!;
        _fail_extra("$name - Can't connect to $ServerAddr:$ServerPortForClient: $err",
                    "last error.log lines:\n" . _log_tail());
        return (undef, 'connect');
    }
    $sock->blocking(0);
    binmode $sock;

    my @todo = map { ref $_ ? {%$_} : { value => $_ } } @$packets;
    my $resp = '';
    my $sel = IO::Select->new($sock);
    my $writing = 1;
    my $cur = shift @todo;
    my $off = 0;
    my $status = 'ok';
    my $write_err;

    while (1) {
        my ($r, $w) = IO::Select->select($sel, $writing ? $sel : undef, undef, $timeout);
        if (!$r && !$w) {
            if ($! == EINTR) { next }
            $status = 'timeout';
            last;
        }
        if ($w && @$w) {
            while ($writing) {
                if (!defined $cur) { $writing = 0; last }
                my $buf = defined $cur->{value} ? $cur->{value} : '';
                if ($off < length $buf) {
                    my $n = syswrite($sock, $buf, length($buf) - $off, $off);
                    if (!defined $n) {
                        last if $! == EAGAIN || $! == EWOULDBLOCK;
                        # the server may legitimately answer and close
                        # early; only a missing response is a failure
                        $write_err = "write failed: $!";
                        $writing = 0;
                        last;
                    }
                    $off += $n;
                    next;
                }
                $cur = shift @todo;
                $off = 0;
                if (!defined $cur) {
                    $writing = 0;
                    if (defined $block->shutdown) {
                        my $how = $block->shutdown;
                        $how = 1 if $how =~ /^\s*$/;
                        shutdown($sock, $how);
                    }
                    last;
                }
                my $delay = defined $cur->{delay_before} ? $cur->{delay_before} : $middle_delay;
                sleep $delay if $delay;
            }
        }
        if ($r && @$r) {
            my $eof = 0;
            while (1) {
                my $buf;
                my $n = sysread($sock, $buf, 65536);
                if (!defined $n) {
                    last if $! == EAGAIN || $! == EWOULDBLOCK;
                    if (!length $resp) { $status = "read failed: $!" }
                    $eof = 1;
                    last;
                }
                if ($n == 0) { $eof = 1; last }
                $resp .= $buf;
            }
            last if $eof;
        }
        last if $status ne 'ok';
    }
    close $sock;

    if ($status eq 'ok' && defined $write_err && $resp eq '') {
        $status = $write_err;
    }

    if ($status eq 'timeout') {
        if (!defined $block->abort) {
            _fail_extra("ERROR: client socket timed out - $name",
                        "received so far: \"" . fmt_str(substr($resp, 0, 500)) . "\"");
        }
    } elsif ($status ne 'ok') {
        _fail_extra("$name - $status");
    }
    return ($resp, $status);
}

# Minimal HTTP::Response replacement.
package Test::Nginx::Socket::Response;

sub new {
    my ($class, %a) = @_;
    return bless { code => undef, headers => [], content => '', %a }, $class;
}
sub code { $_[0]->{code} }
sub content { my $s = shift; $s->{content} = shift if @_; $s->{content} }
sub header {
    my ($self, $key) = @_;
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $key } @{ $self->{headers} };
    return undef unless @v;
    return wantarray ? @v : join(', ', @v);
}

package Test::Nginx::Socket;

# Parses one response from the front of $raw.  Returns ($res, $raw_headers,
# $left, $problem).
sub parse_response ($$$) {
    my ($name, $raw, $head_req) = @_;
    my $res = Test::Nginx::Socket::Response->new;
    my $raw_headers = '';
    my ($left, $problem);

    if (!defined $raw || $raw eq '') {
        return ($res, '', undef, 'empty response');
    }

    my ($head, $rest);
    if ($raw =~ /\A(.*?\r?\n)\r?\n(.*)\z/s) {
        ($head, $rest) = ($1, $2);
        $raw_headers = $head;
    } else {
        $head = $raw;
        $rest = '';
        $problem = 'incomplete response header';
    }
    my @lines = split /\r?\n/, $head;
    my $status_line = shift @lines;
    if (defined $status_line && $status_line =~ m{^HTTP/\d+\.\d+\s+(\d{3})(?:\s|$)}) {
        $res->{code} = $1;
    } else {
        $problem ||= 'bad status line: ' . (defined $status_line ? $status_line : '');
    }
    for my $l (@lines) {
        if ($l =~ /^([^:\s]+)\s*:\s*(.*?)\s*$/) {
            push @{ $res->{headers} }, [$1, $2];
        } elsif ($l =~ /^\s+(.*)$/ && @{ $res->{headers} }) {
            $res->{headers}[-1][1] .= " $1";
        } else {
            $problem ||= "bad response header line: $l";
        }
    }

    my $code = $res->{code};
    my $enc = $res->header('Transfer-Encoding');
    my $len = $res->header('Content-Length');

    if ($head_req || (defined $code && ($code =~ /^1/ || $code == 204 || $code == 304))) {
        $res->{content} = '';
        $left = $rest if length $rest;
        return ($res, $raw_headers, $left, $problem);
    }

    if (defined $enc && lc($enc) eq 'chunked') {
        my $decoded = '';
        my $pos = 0;
        while (1) {
            if ($rest !~ /\G[ \t]*([0-9A-Fa-f]+)[^\r\n]*\r\n/gc) {
                $problem ||= 'invalid chunked body (bad chunk size line)';
                last;
            }
            my $sz = hex $1;
            if ($sz == 0) {
                # trailers
                while ($rest =~ /\G([^\r\n]+)\r\n/gc) { }
                if ($rest !~ /\G\r\n/gc) {
                    $problem ||= 'invalid chunked body (no final CRLF)';
                }
                my $p = pos($rest);
                $left = substr($rest, $p) if defined $p && $p < length $rest;
                last;
            }
            my $p = pos($rest);
            if (length($rest) - $p < $sz + 2) {
                $problem ||= 'invalid chunked body (truncated chunk)';
                $decoded .= substr($rest, $p);
                last;
            }
            $decoded .= substr($rest, $p, $sz);
            pos($rest) = $p + $sz;
            if ($rest !~ /\G\r\n/gc) {
                $problem ||= 'invalid chunked body (expected CRLF)';
                last;
            }
        }
        $res->{content} = $decoded;
    } elsif (defined $len && $len ne '') {
        if ($len !~ /^\d+$/) {
            $problem ||= "bad Content-Length: $len";
            $res->{content} = $rest;
        } elsif (length $rest < $len) {
            $problem ||= "response body truncated: $len expected, but got " . length($rest);
            $res->{content} = $rest;
        } else {
            $res->{content} = substr($rest, 0, $len);
            $left = substr($rest, $len) if length($rest) > $len;
        }
    } else {
        $res->{content} = $rest;
    }
    return ($res, $raw_headers, $left, $problem);
}

sub parse_headers ($) {
    my $s = shift;
    my @headers;
    for my $line (split /\n/, $s) {
        $line =~ s/^\s+|\s+$//g;
        next if $line eq '';
        my $neg = ($line =~ s/^!\s*//);
        if ($neg) {
            push @headers, [$line, undef];
        } else {
            my ($key, $val) = split /\s*:\s*/, $line, 2;
            $val = '' unless defined $val;
            push @headers, [$key, $val];
        }
    }
    return \@headers;
}

sub get_indexed_value ($$$$) {
    my ($name, $value, $req_idx, $need_array) = @_;
    if ($need_array) {
        if (ref $value && ref $value eq 'ARRAY') {
            return $value->[$req_idx];
        }
        bail_out("$name - You asked for many requests, the expected results should be arrays as well.");
    }
    if (ref $value && ref $value eq 'ARRAY') {
        return $value->[0];
    }
    return $value;
}

# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------

sub check_error_code {
    my ($block, $res, $req_idx, $need_array) = @_;
    my $name = $block->name;
    my $code = ($res && $res->code) || '';
    if (defined $block->error_code_like) {
        my $val = get_indexed_value($name, $block->error_code_like, $req_idx, $need_array);
        Test::More::like($code, qr/$val/sm, "$name - status code ok");
    } elsif (defined $block->error_code) {
        my $exp = get_indexed_value($name, $block->error_code, $req_idx, $need_array);
        Test::More::is($code, $exp, "$name - status code ok");
    } else {
        Test::More::is($code, 200, "$name - status code ok");
    }
}

sub check_raw_response_headers {
    my ($block, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->raw_response_headers_like) {
        my $exp = get_indexed_value($name, $block->raw_response_headers_like, $req_idx, $need_array);
        Test::More::like($raw_headers, qr/$exp/s, "$name - raw resp headers like");
    }
    if (defined $block->raw_response_headers_unlike) {
        my $exp = get_indexed_value($name, $block->raw_response_headers_unlike, $req_idx, $need_array);
        Test::More::unlike($raw_headers, qr/$exp/s, "$name - raw resp headers unlike");
    }
}

sub check_response_headers {
    my ($block, $res, $raw_headers, $req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->response_headers) {
        my $headers = parse_headers(get_indexed_value($name, $block->response_headers,
                                                      $req_idx, $need_array));
        for my $h (@$headers) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                # stricter than the real module: case-insensitive
                Test::More::unlike($raw_headers, qr/^\s*\Q$key\E\s*:/msi,
                                   "$name - header $key not present in the raw headers");
                next;
            }
            $val =~ s/\$ServerPort\b/$ServerPort/g;
            $val =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' unless defined $actual;
            Test::More::is($actual, $val, "$name - header $key ok");
        }
    } elsif (defined $block->response_headers_like) {
        my $headers = parse_headers(get_indexed_value($name, $block->response_headers_like,
                                                      $req_idx, $need_array));
        for my $h (@$headers) {
            my ($key, $val) = @$h;
            if (!defined $val) {
                bail_out("$name - '!$key' is not valid in --- response_headers_like");
            }
            my $actual = $res ? $res->header($key) : undef;
            $actual = '' unless defined $actual;
            Test::More::like($actual, qr/^$val$/, "$name - header $key like ok");
        }
    }
}

my %BodyFilters = (
    md5_hex  => sub { require Digest::MD5; Digest::MD5::md5_hex($_[0]) },
    sha1_hex => sub { require Digest::SHA; Digest::SHA::sha1_hex($_[0]) },
    uc       => sub { uc $_[0] },
    lc       => sub { lc $_[0] },
    ucfirst  => sub { ucfirst $_[0] },
    lcfirst  => sub { lcfirst $_[0] },
    length   => sub { length $_[0] },
);

sub transform_response_body {
    my ($block, $res, $req_idx) = @_;
    return unless $res;
    my $filters = $block->response_body_filters;
    return unless defined $filters;
    my $name = $block->name;
    if (!ref $filters) {
        $filters =~ s/^\s+|\s+$//gs;
        $filters = [ split /\s+/, $filters ];
    } elsif (ref $filters ne 'ARRAY') {
        $filters = [$filters];
    }
    if (@$filters && ref $filters->[0] eq 'ARRAY') {
        $filters = $filters->[$req_idx];
        bail_out("$name - --- response_body_filters has no entry for request $req_idx")
            unless defined $filters;
    }
    my $content = $res->content;
    for my $f (@$filters) {
        if (ref $f eq 'CODE') {
            $content = $f->($content);
        } elsif (!ref $f && $BodyFilters{$f}) {
            $content = $BodyFilters{$f}->($content);
        } else {
            bail_out("$name - unknown filter \"$f\" in --- response_body_filters");
        }
    }
    $res->content($content);
}

sub check_response_body {
    my ($block, $res, $req_idx, $repeated_req_idx, $need_array) = @_;
    my $name = $block->name;
    if (defined $block->response_body) {
        my $content = $res ? $res->content : undef;
        my $expected = get_indexed_value($name, $block->response_body, $req_idx, $need_array);
        if (defined $expected && !ref $expected) {
            $expected =~ s/\$ServerPort\b/$ServerPort/g;
            $expected =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        if (ref $expected) {
            Test::More::like($content, $expected,
                "$name - response_body - like (repeated req $repeated_req_idx, req $req_idx)");
        } else {
            Test::More::is($content, $expected,
                "$name - response_body - response is expected (repeated req $repeated_req_idx, req $req_idx)");
        }
    } elsif (defined $block->response_body_like || defined $block->response_body_unlike) {
        my ($patterns, $type, $cmp);
        if (defined $block->response_body_like) {
            ($patterns, $type, $cmp) = ($block->response_body_like, 'like', \&Test::More::like);
        } else {
            ($patterns, $type, $cmp) = ($block->response_body_unlike, 'unlike', \&Test::More::unlike);
        }
        my $content = $res ? $res->content : undef;
        my $pat = get_indexed_value($name, $patterns, $req_idx, $need_array);
        if (!ref $pat) {
            $pat =~ s/\$ServerPort\b/$ServerPort/g;
            $pat =~ s/\$ServerPortForClient\b/$ServerPortForClient/g;
        }
        my $summary = trim_str($content);
        $summary = '' unless defined $summary;
        $summary = substr($summary, 0, 200) . '...' if length $summary > 200;
        $cmp->($content, qr/$pat/s, "$name - response_body_$type - response is expected ($summary)");
    }
    for my $check (@ResponseBodyChecks) {
        $check->($block, $res ? $res->content : undef, $req_idx, $repeated_req_idx, 0);
    }
}

sub _value_contains {
    my ($val, $pat) = @_;
    return undef unless defined $val;
    if (!ref $val || ref $val eq 'Regexp') {
        return "$val" =~ /\Q$pat\E/;
    }
    if (ref $val eq 'ARRAY') {
        for my $v (@$val) {
            return 1 if _value_contains($v, $pat);
        }
    }
    return undef;
}

sub _to_patterns {
    my $pats = shift;
    if (!ref $pats) {
        chomp $pats;
        return [ split /\n+/, $pats ];
    }
    return [$pats] if ref $pats eq 'Regexp';
    return [@$pats] if ref $pats eq 'ARRAY';
    bail_out("bad pattern value: " . ref($pats));
}

sub _check_log_patterns {
    my ($name, $what, $file, $pats_in, $lines_ref, $repeated_req_idx, $neg) = @_;
    my $pats = _to_patterns($pats_in);
    my $lines = $$lines_ref;
    if (!$neg) {
        for my $line (@$lines) {
            for my $pat (@$pats) {
                next if !defined $pat;
                if ((ref $pat && $line =~ /$pat/) || (!ref $pat && $line =~ /\Q$pat\E/)) {
                    Test::More::pass("$name - pattern \"$pat\" matches a line in $file (req $repeated_req_idx)");
                    undef $pat;
                }
            }
        }
        for my $pat (@$pats) {
            next unless defined $pat;
            Test::More::fail("$name - pattern \"$pat\" should match a line in $file (req $repeated_req_idx)");
            Test::More::diag("$file lines checked:\n" . join('', map { "    $_" } @$lines));
        }
        return;
    }
    my %found;
    my $i = 0;
    for my $line (@$lines) {
        for my $pat (@$pats) {
            next if !defined $pat;
            if ((ref $pat && $line =~ /$pat/) || (!ref $pat && $line =~ /\Q$pat\E/)) {
                $found{$pat} = 1;
                my $ln = fmt_str($line);
                my $p = fmt_str($pat);
                Test::More::fail("$name - pattern \"$p\" should not match any line in $file "
                                 . "but matches line \"$ln\" (req $repeated_req_idx)");
            }
        }
    } continue {
        $i++;
    }
    for my $pat (@$pats) {
        next if !defined $pat || $found{$pat};
        my $p = fmt_str($pat);
        Test::More::pass("$name - pattern \"$p\" does not match a line in $file (req $repeated_req_idx)");
    }
}

sub check_error_log {
    my ($block, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $lines;

    if (defined $block->grep_error_log) {
        my $grep_pat = $block->grep_error_log;
        $grep_pat = $grep_pat->[$repeated_req_idx] if ref $grep_pat eq 'ARRAY';
        my $expected = $block->grep_error_log_out;
        bail_out("$name - No --- grep_error_log_out defined but --- grep_error_log is defined")
            unless defined $expected;
        $expected = $expected->[$repeated_req_idx] if ref $expected eq 'ARRAY';
        $lines ||= error_log_data();
        my $matched = '';
        for my $line (@$lines) {
            if ((ref $grep_pat && $line =~ /$grep_pat/) || (!ref $grep_pat && $line =~ /\Q$grep_pat\E/)) {
                my $m = $&;
                $matched .= "$m\n" if $m !~ /\n/;
            }
        }
        if (ref $expected eq 'Regexp') {
            Test::More::like($matched, $expected, "$name - grep_error_log_out (req $repeated_req_idx)");
        } else {
            Test::More::is($matched, $expected, "$name - grep_error_log_out (req $repeated_req_idx)");
        }
    } elsif (defined $block->grep_error_log_out) {
        bail_out("$name - No --- grep_error_log defined but --- grep_error_log_out is defined");
    }

    if (defined $block->error_log) {
        $lines ||= error_log_data();
        _check_log_patterns($name, 'error_log', 'error.log', $block->error_log, \$lines,
                            $repeated_req_idx, 0);
    }
    if (defined $block->no_error_log) {
        $lines ||= error_log_data();
        _check_log_patterns($name, 'no_error_log', 'error.log', $block->no_error_log, \$lines,
                            $repeated_req_idx, 1);
    }
    $lines ||= error_log_data();
    for my $line (@$lines) {
        if ($line =~ /\bAssertion .*?failed\b/) {
            chomp(my $l = $line);
            Test::More::fail("$name - $l");
        }
    }
}

sub check_access_log {
    my ($block, $repeated_req_idx) = @_;
    my $name = $block->name;
    my $lines;
    if (defined $block->access_log) {
        $lines ||= access_log_data();
        _check_log_patterns($name, 'access_log', 'access.log', $block->access_log, \$lines,
                            $repeated_req_idx, 0);
    }
    if (defined $block->no_access_log) {
        $lines ||= access_log_data();
        _check_log_patterns($name, 'no_access_log', 'access.log', $block->no_access_log, \$lines,
                            $repeated_req_idx, 1);
    }
}

# ---------------------------------------------------------------------------
# Running blocks
# ---------------------------------------------------------------------------

my %Unsupported = map { $_ => 1 } qw(
    http2 http3 curl curl_protocol curl_options curl_error
    stap stap_out stap_out_like stap_out_unlike
    udp_listen udp_reply udp_reply_delay udp_query
    tcp_listen tcp_reply tcp_reply_delay tcp_query tcp_query_len
    tcp_shutdown tcp_shutdown_delay tcp_no_close
    http09 charset error_log_file reload_fails server_addr_for_client
    todo todo_nginx skip_openssl skip_slave
    request_eval response_body_eval quic_max_idle_timeout
);

sub run_test_helper {
    my ($block, $repeated_req_idx) = @_;
    my $name = $block->name;

    my $r_req_list = get_req_from_block($block);
    if (!@$r_req_list) {
        bail_out("$name - request empty");
    }

    my $timeout = parse_time($block->timeout);
    # valgrind makes nginx 20-50 times slower: scale a block's own timeout
    # (the default $Timeout is already larger in valgrind mode)
    $timeout *= $ValgrindTimeoutFactor if defined $timeout && $UseValgrind;
    $timeout = $Timeout unless defined $timeout;

    my $req_idx = 0;
    my ($n, $need_array);
    for my $one_req (@$r_req_list) {
        my $head_req = join('', map { defined $_->{value} ? $_->{value} : '' } @$one_req) =~ /^\s*HEAD\s+/ ? 1 : 0;
        my ($raw_resp, $send_status) = send_request($one_req, $block->raw_request_middle_delay, $timeout, $block);
        $raw_resp = '' unless defined $raw_resp;

        if (defined $block->pipelined_requests) {
            $n = @{ $block->pipelined_requests };
            $need_array = 1;
        } else {
            $need_array = $#$r_req_list > 0;
        }

      again:
        my ($res, $raw_headers, $left, $problem);
        if (!defined $block->ignore_response) {
            ($res, $raw_headers, $left, $problem) = parse_response($name, $raw_resp, $head_req);
            if ($problem && $send_status eq 'ok') {
                _fail_extra("$name - malformed HTTP response (req $req_idx): $problem",
                            "raw response: \"" . fmt_str(substr($raw_resp, 0, 1000)) . "\"");
            }
        }

        if (!$n) {
            if (defined $left && length $left && !defined $block->ignore_response) {
                _fail_extra("$name - unexpected extra bytes after the response: \""
                            . fmt_str(substr($left, 0, 300)) . "\"");
            }
        } else {
            $raw_resp = defined $left ? $left : '';
            $n--;
        }

        if (!defined $block->ignore_response) {
            check_error_code($block, $res, $req_idx, $need_array);
            check_raw_response_headers($block, $raw_headers, $req_idx, $need_array);
            check_response_headers($block, $res, $raw_headers, $req_idx, $need_array);
            transform_response_body($block, $res, $req_idx);
            check_response_body($block, $res, $req_idx, $repeated_req_idx, $need_array);
        }

        if ($n || $req_idx < @$r_req_list - 1) {
            sleep $block->wait if $block->wait;
            check_error_log($block, $repeated_req_idx);
            check_access_log($block, $repeated_req_idx) unless defined $block->ignore_response;
        }

        $req_idx++;
        goto again if $n;
    }

    sleep $block->wait if $block->wait;
    check_error_log($block, $repeated_req_idx);
    check_access_log($block, $repeated_req_idx) unless defined $block->ignore_response;
}

sub _exempt_levels {
    my $block = shift;
    my %ex;
    for my $sec (qw(error_log no_error_log grep_error_log shutdown_error_log no_shutdown_error_log)) {
        my $v = $block->$sec;
        next unless defined $v;
        for my $lvl (qw(alert crit emerg)) {
            $ex{$lvl} = 1 if _value_contains($v, "[$lvl");
        }
        $ex{signal} = 1 if _value_contains($v, 'exited on signal');
    }
    return \%ex;
}

sub _scan_bad_lines {
    my ($lines, $ex) = @_;
    my (@levels, @signals);
    for my $l (@$lines) {
        for my $lvl (qw(alert crit emerg)) {
            next if $ex->{$lvl};
            if ($l =~ /\[\Q$lvl\E\]/) { push @levels, $l; last }
        }
        push @signals, $l if !$ex->{signal} && $l =~ /exited on signal|core dumped/;
    }
    return (\@levels, \@signals);
}

# A probe request after the block: the server must still answer HTTP.
sub _probe_alive {
    my $timeout = shift;
    my $sock = IO::Socket::INET->new(PeerAddr => $ServerAddr, PeerPort => $ServerPortForClient,
                                     Proto => 'tcp', Timeout => $timeout);
    return (0, "connect failed: $!") unless $sock;
    binmode $sock;
    my $req = "GET /__test_nginx_shim_liveness_probe__ HTTP/1.0\r\nHost: $ServerName\r\n\r\n";
    my $ok = syswrite($sock, $req);
    return (0, "write failed: $!") unless $ok;
    my $sel = IO::Select->new($sock);
    my $buf = '';
    my $deadline = time + $timeout;
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $chunk;
        my $n = sysread($sock, $chunk, 4096);
        last if !$n;
        $buf .= $chunk;
        last if $buf =~ m{^HTTP/\d\.\d \d{3}};
    }
    close $sock;
    return (1, '') if $buf =~ m{^HTTP/\d\.\d \d{3}};
    return (0, length $buf ? "bad reply: " . fmt_str(substr($buf, 0, 200)) : 'no reply (timeout or connection closed)');
}

sub _prepare_setup {
    my ($block) = @_;
    my $name = $block->name;
    my $config = $block->config;
    if (!defined $config) {
        if (!$PrevSetup) {
            bail_out("$name - No '--- config' section specified and could not get previous one.");
        }
        for my $sec (qw(http_config main_config post_main_config user_files log_level)) {
            if (defined $block->$sec) {
                Test::More::diag("WARNING: $name - --- $sec is ignored because the block has no "
                                 . "--- config (the previous block's nginx setup is reused, as "
                                 . "the real Test::Nginx does)");
            }
        }
        return $PrevSetup;
    }
    return { block => $block, config => $config };
}

sub run_test ($) {
    my $block = shift;
    my $name = $block->name;

    if ($block->{_filter_errors}) {
        Test::More::fail("$name - $_") for @{ $block->{_filter_errors} };
        return;
    }

    for my $sec ($block->sections) {
        if ($Unsupported{$sec}) {
            Test::More::fail("$name - section '--- $sec' is not supported by the Test::Nginx shim "
                             . "(t/lib/Test/Nginx/Socket.pm)");
            return;
        }
    }

    for my $sec (qw(request more_headers raw_request pipelined_requests)) {
        my $v = $block->$sec;
        next unless defined $v;
        my $flat = ref $v eq 'ARRAY' ? join("\n", map { ref $_ ? '' : $_ } @$v) : (ref $v ? '' : $v);
        if ($flat =~ /\$(TEST_NGINX_[_A-Z0-9]+)/) {
            Test::More::fail("$name - --- $sec contains \$$1 but Test::Nginx does not expand "
                             . "environment variables in requests; use \"--- $sec eval\" with "
                             . "\$ENV{$1}");
            return;
        }
    }

    # skip_eval / skip_nginx / skip_nginx2
    my ($tests_to_skip, $should_skip, $skip_reason);
    if (defined(my $se = $block->skip_eval)) {
        if ($se =~ /^\s*(\d+)\s*:\s*(.*)/s) {
            $tests_to_skip = $1;
            $skip_reason = 'skip_eval';
            my $code = $2;
            $should_skip = eval $code;
            bail_out("$name - skip_eval - failed to eval the Perl code \"$code\": $@") if $@;
        } else {
            bail_out("$name - Invalid --- skip_eval spec: $se");
        }
    }
    if (defined(my $sn = $block->skip_nginx)) {
        if ($sn =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/) {
            $tests_to_skip = $1;
            my ($op, $ver) = ($2, sprintf("%d.%03d%03d", $3, $4, $5));
            $skip_reason = $6 || "nginx version $op $3.$4.$5";
            $should_skip = 1 if eval "$NginxVersion $op $ver";
        } else {
            bail_out("$name - Invalid --- skip_nginx spec: $sn");
        }
    } elsif (defined(my $sn2 = $block->skip_nginx2)) {
        if ($sn2 =~ /^\s*(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)\s*(or|and)\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)(?:\s*:\s*(.*))?\s*$/) {
            $tests_to_skip = $1;
            my ($opa, $vera) = ($2, sprintf("%d.%03d%03d", $3, $4, $5));
            my $opx = $6;
            my ($opb, $verb) = ($7, sprintf("%d.%03d%03d", $8, $9, $10));
            $skip_reason = $11 || 'nginx version';
            my $a = eval "$NginxVersion $opa $vera";
            my $b = eval "$NginxVersion $opb $verb";
            $should_skip = 1 if ($opx eq 'or' ? ($a || $b) : ($a && $b));
        } else {
            bail_out("$name - Invalid --- skip_nginx2 spec: $sn2");
        }
    }
    if ($should_skip) {
        _tb()->skip("$name - $skip_reason") for 1 .. $tests_to_skip * $RepeatEach;
        return;
    }

    my $setup = _prepare_setup($block);
    my $sblock = $setup->{block};
    my $must_die = $block->must_die;

    if (defined $must_die) {
        # shim-only: without an error_log expectation a must_die block
        # passes for ANY startup failure (e.g. a module that fails to load)
        _strict_check(defined $block->error_log || defined $block->grep_error_log,
                      "$name - must_die block checks the reason via --- error_log",
                      "add an --- error_log section with the expected [emerg] message");
    }

    my $attempts = 0;
  START: {
        $attempts++;
        setup_server_root();
        write_user_files($name, $sblock->user_files);
        my $config = expand_env_in_text($setup->{config}, $name);
        write_config_file(build_config($sblock, $config));

        if (_port_listening($ServerPort)) {
            if ($PortWasAutoPicked && $attempts < 5) {
                _switch_port();
                redo START;
            }
            Test::More::fail("$name - port $ServerPort is already in use by another process "
                             . "(set TEST_NGINX_SERVER_PORT to a free port)");
            return;
        }

        if (defined $must_die) {
            $PrevSetup = $setup;
            $ErrLogPos = 0;
            $StderrPos = 0;
            for my $i (0 .. $RepeatEach - 1) {
                start_nginx($name);
                my $st = wait_nginx_up($StartTimeout);
                if ($st eq 'up' || $st eq 'timeout') {
                    stop_nginx();
                    if ($must_die =~ /^\s*\d+\s*$/) {
                        Test::More::fail("$name - die with the expected exit code");
                    } else {
                        Test::More::fail("$name - die as expected");
                    }
                    Test::More::diag("nginx did not die (it "
                        . ($st eq 'up' ? 'started listening on the port'
                                       : "was still running after ${StartTimeout}s") . ")");
                } else {
                    my $status = $ChildStatus;
                    stop_nginx();
                    if ($PortWasAutoPicked && $attempts < 5 && _bind_conflict()) {
                        _switch_port();
                        redo START;
                    }
                    if ($status & 127) {
                        Test::More::fail("$name - nginx was killed by signal " . ($status & 127)
                                         . ($status & 128 ? ' (core dumped)' : '') . " instead of exiting");
                    } elsif ($must_die =~ /^\s*(\d+)\s*$/) {
                        Test::More::is($status >> 8, $1, "$name - die with the expected exit code");
                    } else {
                        Test::More::isnt($status >> 8, 0, "$name - die as expected");
                    }
                }
                check_error_log($block, $i);
                check_valgrind($block);
            }
            return;
        }

        start_nginx($name);
        my $st = wait_nginx_up($StartTimeout);
        if ($st ne 'up') {
            my $status = $ChildStatus;
            my $tail = _log_tail(30);
            stop_nginx();
            if ($PortWasAutoPicked && $attempts < 5 && _bind_conflict()) {
                _switch_port();
                redo START;
            }
            $PrevSetup = $setup;
            Test::More::fail("$name - nginx failed to start ("
                . ($st eq 'timeout' ? "not listening on $ServerAddr:$ServerPort after ${StartTimeout}s"
                   : "exit status " . (defined $status ? ($status >> 8) . ($status & 127 ? ", signal " . ($status & 127) : '') : '?'))
                . ")");
            Test::More::diag("nginx command: $NginxBinary -p $ServRoot/ -c $ConfFile\nlog:\n$tail");
            check_valgrind($block);
            return;
        }
    }
    $PrevSetup = $setup;

    if (defined $block->init) {
        eval $block->init;
        bail_out("$name - init failed: $@") if $@;
    }

    $ErrLogPos = 0;
    $StderrPos = 0;
    for my $i (0 .. $RepeatEach - 1) {
        run_test_helper($block, $i);
    }

    # ---- strict post-block checks ------------------------------------
    my $ex = _exempt_levels($block);
    my $alive = _child_alive();
    _strict_check($alive, "$name - nginx master process still running after the requests",
                  $alive ? () : ("nginx exited with status " . (defined $ChildStatus ? $ChildStatus : '?'),
                                 _log_tail()));
    if ($alive) {
        my ($ok, $why) = _probe_alive($Timeout);
        _strict_check($ok, "$name - nginx still serves requests after the block", $why, $ok ? () : _log_tail());
    }

    my $pre_stop_pos = -s $ErrLogFile || 0;
    my ($status, $killed) = stop_nginx();
    my $lines = _all_log_lines();
    my ($bad, $sig) = _scan_bad_lines($lines, $ex);
    _strict_check(!@$bad, "$name - no unexpected [alert], [crit] or [emerg] lines in error.log",
                  @$bad ? ("offending lines:\n" . join('', map { "    $_" } @$bad)) : ());
    _strict_check(!@$sig, "$name - no worker process crashed (exited on signal)",
                  @$sig ? ("offending lines:\n" . join('', map { "    $_" } @$sig)) : ());
    if ($alive) {
        my $clean = !$killed && defined $status && $status == 0;
        _strict_check($clean, "$name - nginx shut down cleanly on SIGQUIT",
                      $clean ? () : ($killed ? "nginx did not exit within ${StopTimeout}s of SIGQUIT (killed)"
                                             : "exit status " . (defined $status ? $status : '?')));
    }
    check_valgrind($block);

    if (defined $block->shutdown_error_log || defined $block->no_shutdown_error_log) {
        my ($l) = _read_file($ErrLogFile, $pre_stop_pos);
        if (defined $block->no_shutdown_error_log) {
            _check_log_patterns($name, 'no_shutdown_error_log', 'error.log',
                                $block->no_shutdown_error_log, \$l, 0, 1);
        }
        if (defined $block->shutdown_error_log) {
            _check_log_patterns($name, 'shutdown_error_log', 'error.log',
                                $block->shutdown_error_log, \$l, 0, 0);
        }
    }
}

sub _bind_conflict {
    my $lines = _all_log_lines();
    return scalar grep { /bind\(\) to .*:\Q$ServerPort\E failed \(98: Address already in use\)/ } @$lines;
}

sub _switch_port {
    my $old = $ServerPort;
    $ServerPort = pick_free_port();
    $ServerPortForClient = $ServerPort;
    $ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
    Test::More::diag("port $old is busy, switching to $ServerPort") if $Verbose;
}

sub run_tests () {
    get_nginx_version();
    _valgrind_check_binary() if $UseValgrind;
    _set_subreaper();

    if (!defined $ENV{TEST_NGINX_HTML_DIR}) {
        $ENV{TEST_NGINX_HTML_DIR} = $HtmlDir;
        $HtmlDirAutoSet = 1;
    }

    my @blocks = blocks();

    if (@SkippedBlocks) {
        for my $b (@SkippedBlocks) {
            my $reason = $b->SKIP;
            $reason = 'SKIP section' unless defined $reason && length $reason;
            my $msg = "$0 " . $b->name . " - skipped by --- SKIP: $reason";
            if (_explicit_plan()) {
                Test::More::diag($msg);
            } else {
                _tb()->skip($msg);
            }
        }
    }

    for my $block (@blocks) {
        for my $hdl (@BlockPreprocessors) {
            $hdl->($block);
        }
        $block->set_value('name', "$0 " . $block->name);
        run_test($block);
    }
    cleanup();
}

1;
__END__

=head1 NAME

Test::Nginx::Socket - strict, self-contained subset of openresty's
Test::Nginx::Socket for this project's tests

=head1 SYNOPSIS

    use Test::Nginx::Socket 'no_plan';

    log_level('info');
    no_shuffle();
    run_tests();

    __DATA__

    === TEST 1: hello
    --- config
        location = /t { return 200 "hello\n"; }
    --- request
    GET /t
    --- response_body
    hello
    --- no_error_log
    [error]

Run with C<prove -I t/lib t/> or C<scripts/prove-nginx>.

=head1 DESCRIPTION

This file re-implements the part of L<Test::Nginx::Socket> (CPAN,
openresty/test-nginx) that our F<t/*.t> files use, with core Perl only, so
the very same files run both with this shim and with the real module.

B<Use C<'no_plan'> in our test files.>  Explicit plans
(C<plan tests =E<gt> repeat_each() * blocks() * 3>) work as long as the
count is the one the real module would produce; the shim's extra strictness
checks (below) emit assertions only when they fail while an explicit numeric
plan is active, and always (pass or fail) under C<no_plan>.

=head2 Block format (Test::Base)

Blocks start with C<=== name>; sections are C<--- name [filters]> or
C<--- name: value>.  Default filters C<norm trim> (CRLF normalisation, strip
leading/trailing blank lines, keep the final newline).  Supported filters:
C<eval chomp chop unchomp escape base64_decode base64_encode lines array join
append prepend regexp trim norm> and functions C<main::NAME> (custom
filters).  C<eval> code is compiled in package C<Test::Base::Filter> under
C<strict> and C<warnings>, exactly as with the real Test::Base: refer to
variables and functions of the test file as C<$::var> / C<main::func()>.
A failing C<eval> fails the block (the real module silently uses C<$@> as
the section value).  Meta sections C<ONLY>, C<SKIP> (reported as a skip
under C<no_plan>, a diag otherwise) and C<LAST>.  The .t file gets C<use
strict; use warnings;> prepended, as with Test::Base.

=head2 Sections

main_config, post_main_config, http_config, config, server_name, user_files
(C<E<gt>E<gt>E<gt> file [mtime]> or eval'd array), init, request (string, or
array ref of requests each on its own connection, or of packet arrays),
raw_request, raw_request_middle_delay, more_headers (string or per-request
array), pipelined_requests, error_code, error_code_like, response_body,
response_body_like, response_body_unlike, response_body_filters,
response_headers (C<Name: value> compares all values joined by C<", ">;
C<!Name> = absent, case-insensitive), response_headers_like (anchored
C<^re$>), raw_response_headers_like/unlike, error_log, no_error_log,
grep_error_log, grep_error_log_out, access_log, no_access_log,
shutdown_error_log, no_shutdown_error_log, must_die (optionally with an exit
code), log_level, timeout (C<s>/C<ms>), wait, abort, shutdown,
ignore_response, skip_eval, skip_nginx, skip_nginx2, no_check_leak (ignored).
Sections of the real module that are not implemented (http2, curl, stap,
tcp_*/udp_* mock servers, ...) make the block FAIL instead of being ignored.

=head2 Environment

TEST_NGINX_BINARY (default C<nginx>), TEST_NGINX_LOAD_MODULES (C<load_module>
lines at the top of nginx.conf), TEST_NGINX_SERVROOT (default
F<t/servroot>), TEST_NGINX_SERVER_PORT / TEST_NGINX_PORT (default: a random
free port on 127.0.0.1, exported as TEST_NGINX_SERVER_PORT),
TEST_NGINX_SERVER_ROOT (set), TEST_NGINX_HTML_DIR (set to the html dir if
unset; the real module does not do that, so files should do
C<$ENV{TEST_NGINX_HTML_DIR} ||= html_dir();>), TEST_NGINX_LOG_LEVEL,
TEST_NGINX_TIMEOUT, TEST_NGINX_CHECK_ACCUM_ERR_LOG, TEST_NGINX_VERBOSE,
TEST_NGINX_START_TIMEOUT (default 5), TEST_NGINX_USE_VALGRIND and
TEST_NGINX_VALGRIND_* (see L</Valgrind mode>).  C<$TEST_NGINX_*> variables are
expanded in main_config, http_config, post_main_config, config and
user_files; an undefined one bails out.  They are NOT expanded in request,
more_headers etc. (the real module does not either) - the shim fails a block
that contains one there.

=head2 Valgrind mode

C<TEST_NGINX_USE_VALGRIND=1> (as with the real module) runs every nginx of the
test file under valgrind's memcheck:

    valgrind -q --tool=memcheck --num-callers=100 --leak-check=full
        --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
        --keep-debuginfo=yes --fullpath-after= --gen-suppressions=all
        --log-file=<servroot>/logs/valgrind.%p.log --suppressions=t/valgrind.suppress
        nginx -p <servroot>/ -c <servroot>/conf/nginx.conf ...

nginx then runs as a single process (C<master_process off> is forced, as the
real module's default), so memcheck follows it from start to exit.  Timeouts
grow: the default C<timeout> becomes 30 s, a block's C<--- timeout> is
multiplied by TEST_NGINX_VALGRIND_TIMEOUT_FACTOR (default 10), the startup
timeout becomes 120 s (TEST_NGINX_START_TIMEOUT still wins) and nginx has 120 s
to exit after SIGQUIT (memcheck's leak check runs then).  With C<master_process
off> nginx looks at its quit flag only when C<epoll_wait()> returns, so a SIGQUIT
that arrives just before it blocks there is lost; the shim repeats SIGQUIT every
2 s until nginx exits.

After every nginx run of a block (each repetition of a must_die block too, and a
failed start) the valgrind log is parsed and the block fails ("valgrind: no
memory error and no definite/indirect leak") if it has any error record
(invalid read/write/free, use of uninitialised values, mismatched free,
overlapping copies, a fatal signal...) or a definitely/indirectly lost block
that t/valgrind.suppress does not suppress; "possibly lost" and "still
reachable" memory is not checked (see that file for the policy).  The failure
shows the first records and keeps the logs in F<E<lt>servrootE<gt>/valgrind/>; a
record with a frame in the module under test (a Rust frame, or a frame in one of
the TEST_NGINX_LOAD_MODULES objects) is counted as the module's.  Valgrind
warnings are printed with C<diag>.

More variables: TEST_NGINX_VALGRIND_SUPPRESS (colon-separated suppression files
instead of F<t/valgrind.suppress>), TEST_NGINX_VALGRIND_OPTS (more valgrind
options, e.g. C<--track-origins=yes>; a non-numeric TEST_NGINX_USE_VALGRIND is
also taken as options), TEST_NGINX_VALGRIND_BINARY, and
TEST_NGINX_VALGRIND_SUMMARY: a file to which one tab-separated C<run> line per
nginx run (C<errors=>, C<leaks=>, C<module_errors=>, C<module_leaks=>,
C<warnings=>) and one C<record> line per reported error or leak are appended
(scripts/valgrind sums them up).

=head2 Strictness beyond the real module

For each block (not must_die): the nginx master must still be running after
the requests, must still answer a probe request
(C<GET /__test_nginx_shim_liveness_probe__>), error.log plus nginx's
captured stderr (F<logs/nginx-stderr.log>, e.g. Rust panic messages) must
contain no C<[alert]>, C<[crit]>, C<[emerg]> and no "exited on signal" line
(unless the block's error_log/no_error_log/grep_error_log patterns mention
that level, as with the real module's warnings), and nginx must exit with
status 0 within 5 s of SIGQUIT.  A must_die block must have an error_log
section (otherwise it would pass for any startup failure, e.g. a module that
fails to load) and nginx must exit, not be killed by a signal.  Malformed or
truncated responses, extra bytes after the last response, client timeouts
(unless C<--- abort>), connection failures, failing C<eval> section filters,
unsupported sections and C<$TEST_NGINX_*> in request sections all fail.
Real-module behaviour kept although strict: multi-line C<--- error_code>
keeps its newline (write C<--- error_code: 200>), C<response_headers>
compares all values of a header joined with C<", ">.

=head2 Generated nginx.conf

C<load_module> lines (TEST_NGINX_LOAD_MODULES) come first, then
C<worker_processes>, C<daemon off>, C<master_process>, C<error_log
E<lt>servrootE<gt>/logs/error.log E<lt>levelE<gt>>, C<pid>, C<env> lines,
C<lock_file>, C<working_directory E<lt>servrootE<gt>> and C<user root> (when
run as root), then main_config, C<events>, and C<http> with access_log,
C<default_type text/plain>, all C<*_temp_path>s inside the servroot (unless
http_config sets them), http_config, and one C<server> listening on
C<127.0.0.1:$port> (C<server_name localhost>, C<client_max_body_size 30M>)
containing config and C<location / { root html; }> unless
C<no_root_location()>.  nginx is started as
C<nginx -p E<lt>servrootE<gt>/ -c E<lt>servrootE<gt>/conf/nginx.conf -e
E<lt>servrootE<gt>/logs/error.log> (C<-e> for nginx E<gt>= 1.19.5), so
builds with compiled-in paths (Debian) never touch /var.

=head2 Process handling

nginx runs in the foreground (C<daemon off>, C<master_process on> by
default) as a child in its own process group, started fresh for every block
with a clean servroot (conf, html, logs, *_temp).  It is stopped with
SIGQUIT (SIGKILL to the whole group after 5 s) after each block, and on
exit, die, SIGINT, SIGTERM and SIGHUP.

=cut
