# Proves that the Test::Nginx::Socket shim (t/lib) is strict: every fixture
# in t/lib/fixtures/*.t-fail carries deliberately wrong expectations and must
# fail exactly where intended; *.t-pass fixtures must pass.  Plain Test::More
# (not the Test::Nginx format).

use strict;
use warnings;

use Test::More;
use File::Spec;
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use POSIX qw(:sys_wait_h);
use Cwd qw(abs_path);
use FindBin;

my $root = abs_path("$FindBin::Bin/..");
my $lib  = "$root/t/lib";
my $fix  = "$root/t/lib/fixtures";

chdir $root or die "chdir $root: $!";

# Each fixture: which assertions must fail (regexes on the "not ok" lines),
# how many must fail in total, and which must pass.
my @cases = (
    {
        file    => 'wrong-status.t-fail',
        not_ok  => [qr/TEST 1: explicit wrong error_code - status code ok$/,
                    qr/TEST 2: implicit error_code 200 but 404 - status code ok$/],
        n_fail  => 2,
        ok      => [qr/TEST 1: explicit wrong error_code - response_body - response is expected/],
    },
    {
        file    => 'wrong-body.t-fail',
        not_ok  => [qr/TEST 1: body differs by the final newline - response_body - response is expected/,
                    qr/TEST 2: response_body_like does not match - response_body_like/,
                    qr/TEST 3: second pipelined response differs - response_body - response is expected \(repeated req 0, req 1\)/],
        n_fail  => 3,
        ok      => [qr/TEST 3: second pipelined response differs - response_body - response is expected \(repeated req 0, req 0\)/],
    },
    {
        file    => 'wrong-headers.t-fail',
        not_ok  => [qr/TEST 1: .* - header X-Foo ok$/,
                    qr/TEST 1: .* - header www-authenticate not present in the raw headers$/,
                    qr/TEST 2: .* - header X-Dup ok$/,
                    qr/TEST 3: .* - header X-Foo like ok$/],
        n_fail  => 4,
    },
    {
        file    => 'error-log.t-fail',
        not_ok  => [qr/TEST 1: .* - pattern "auth_jwt: this line is never logged" should match a line in error\.log/,
                    qr/TEST 2: .* - pattern "\[warn\]" should not match any line in error\.log but matches line .*duplicate extension/,
                    qr/TEST 3: .* - pattern "\(\?\^:this regex matches nothing .*" should match a line in error\.log/],
        n_fail  => 3,
        ok      => [qr/TEST 3: .* - pattern "\(\?\^:using the .*event method\)" matches a line in error\.log/],
    },
    {
        file    => 'must-die.t-fail',
        not_ok  => [qr/TEST 1: must_die but the config is fine - die as expected$/,
                    qr/TEST 1: must_die but the config is fine - pattern "unknown directive" should match/,
                    qr/TEST 2: must_die with a wrong exit code - die with the expected exit code$/,
                    qr/TEST 3: broken config without must_die - nginx failed to start \(exit status 1\)$/,
                    qr/TEST 4: must_die without error_log .* - must_die block checks the reason via --- error_log$/],
        n_fail  => 5,
        ok      => [qr/TEST 4: must_die without error_log .* - die as expected$/],
    },
    {
        file    => 'alert-in-log.t-fail',
        not_ok  => [qr/TEST 1: unexpected \[alert\] - no unexpected \[alert\], \[crit\] or \[emerg\] lines in error\.log$/],
        n_fail  => 1,
        ok      => [qr/TEST 2: expected \[crit\] is exempt \(passes\) - no unexpected \[alert\], \[crit\] or \[emerg\] lines in error\.log$/,
                    qr/TEST 1: unexpected \[alert\] - response_body - response is expected/],
    },
    {
        file    => 'crash.t-fail',
        not_ok  => [qr/TEST 1: worker killed by a signal - no worker process crashed \(exited on signal\)$/,
                    qr/TEST 1: worker killed by a signal - no unexpected \[alert\]/,
                    qr/TEST 2: master killed .* - nginx master process still running after the requests$/],
        n_fail  => 3,
    },
    {
        file    => 'timeout.t-fail',
        not_ok  => [qr/ERROR: client socket timed out - .*TEST 1: slow body/,
                    qr/TEST 1: slow body .* - response_body - response is expected/],
        n_fail  => 3,
    },
    {
        file    => 'misuse.t-fail',
        not_ok  => [qr/TEST 1: eval filter with a syntax error - section '--- response_body' filter 'eval' failed: syntax error/,
                    qr/TEST 2: .* - --- request contains \$TEST_NGINX_SERVER_PORT but Test::Nginx does not expand/,
                    qr/TEST 3: .* - section '--- http2' is not supported by the Test::Nginx shim/,
                    qr/TEST 4: multi-line error_code .* - status code ok$/],
        n_fail  => 4,
    },
    {
        file    => 'bail-undefined-env.t-fail',
        bail    => qr/^Bail out!.*No environment TEST_NGINX_SURELY_UNDEFINED_VAR_XYZ defined/m,
        n_fail  => 0,
    },
    {
        file    => 'explicit-plan.t-pass',
        pass    => 1,
        plan    => 18,
        skips   => 6,
        n_fail  => 0,
    },
);

my $tmp = tempdir('test-nginx-strict-XXXXXX', TMPDIR => 1, CLEANUP => 1);

sub procs_mentioning {
    my $needle = shift;
    my @found;
    for my $d (glob '/proc/[0-9]*') {
        open my $fh, '<', "$d/cmdline" or next;
        local $/;
        my $cmd = <$fh>;
        close $fh;
        next unless defined $cmd && length $cmd;
        $cmd =~ s/\0/ /g;
        # workers ("nginx: worker process") are found by their working
        # directory, which the shim sets to the servroot
        my $cwd = readlink("$d/cwd") // '';
        push @found, ($d =~ m{(\d+)$})[0] . ": $cmd (cwd $cwd)"
            if index($cmd, $needle) >= 0 || $cwd eq $needle || index($cwd, "$needle/") == 0;
    }
    return @found;
}

sub run_fixture {
    my ($file, $servroot) = @_;
    my $out = "$servroot.out";
    my $pid = fork();
    die "fork: $!" unless defined $pid;
    if ($pid == 0) {
        # fixtures test the harness with stock nginx features only, so the
        # module under development (TEST_NGINX_LOAD_MODULES) is not loaded
        delete $ENV{$_} for qw(TEST_NGINX_SERVER_PORT TEST_NGINX_PORT TEST_NGINX_CLIENT_PORT
                               TEST_NGINX_HTML_DIR TEST_NGINX_LOAD_MODULES HARNESS_ACTIVE);
        $ENV{TEST_NGINX_SERVROOT} = $servroot;
        open STDOUT, '>', $out or POSIX::_exit(126);
        open STDERR, '>&', \*STDOUT or POSIX::_exit(126);
        exec $^X, "-I$lib", "$fix/$file" or POSIX::_exit(127);
    }
    my $deadline = time + 120;
    my $status;
    while (1) {
        my $r = waitpid($pid, WNOHANG);
        if ($r == $pid) { $status = $?; last }
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            $status = -1;
            last;
        }
        select(undef, undef, undef, 0.05);
    }
    open my $fh, '<', $out or die "$out: $!";
    local $/;
    my $text = <$fh>;
    close $fh;
    return ($status, $text);
}

for my $c (@cases) {
    my $file = $c->{file};
    my $servroot = "$tmp/" . ($file =~ s/\W/_/gr);
    my ($status, $out) = run_fixture($file, $servroot);
    my @lines = split /\n/, $out;
    my @not_ok = grep { /^not ok \d+/ } @lines;
    my @ok     = grep { /^ok \d+/ } @lines;

    note("---- $file (exit " . ($status >> 8) . ")\n" . join("\n", @not_ok));

    isnt($status, -1, "$file: finished within 120 s");

    if ($c->{pass}) {
        is($status, 0, "$file: exits 0")
            or diag($out);
        like($out, qr/^1\.\.$c->{plan}$/m, "$file: explicit plan of $c->{plan} is honoured");
        is(scalar(@not_ok), 0, "$file: no failing assertions");
        is(scalar(grep { /^ok \d+ # skip / } @lines), $c->{skips}, "$file: $c->{skips} skipped assertions");
    } elsif ($c->{bail}) {
        isnt($status, 0, "$file: exits non-zero");
        like($out, $c->{bail}, "$file: bails out with the expected message");
    } else {
        isnt($status, 0, "$file: exits non-zero")
            or diag($out);
        is($status >> 8, scalar(@not_ok), "$file: exit code equals the number of failures");
        is(scalar(@not_ok), $c->{n_fail}, "$file: exactly $c->{n_fail} assertions fail")
            or diag(join "\n", @not_ok);
        for my $re (@{ $c->{not_ok} || [] }) {
            ok((grep { $_ =~ $re } @not_ok), "$file: fails: $re")
                or diag("failing assertions were:\n" . join("\n", @not_ok));
        }
        for my $re (@{ $c->{ok} || [] }) {
            ok((grep { $_ =~ $re } @ok), "$file: still passes: $re");
        }
    }

    # no nginx (master or orphaned worker) may survive the fixture
    my @left;
    for (1 .. 20) {
        @left = procs_mentioning($servroot);
        last unless @left;
        select(undef, undef, undef, 0.1);
    }
    is(scalar(@left), 0, "$file: no nginx process left behind")
        or diag(join "\n", @left);
    ok(!-e "$servroot/logs/nginx.pid" || !kill(0, do { open my $p, '<', "$servroot/logs/nginx.pid"; my $x = <$p> // 0; chomp $x; $x || 0 }),
       "$file: pid file does not point at a live process");
}

done_testing();
