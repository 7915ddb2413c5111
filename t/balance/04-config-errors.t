#!/usr/bin/perl
# VhostFcgiHealthCheck settings that make no sense stop httpd at startup
# with a message naming the configuration file and line: `apache2 -t -f
# conf` exits non-zero.  The configuration is otherwise the one the other
# tests run (balancer://php of three fcgi:// members, the vhost, the status
# pages); sane settings pass -t, as a control.  No namespaces are needed:
# nothing is started, nothing is contacted (except the one real start of
# the undefined-balancer case, which must fail before it listens, and the
# real start checking a balancer of a <VirtualHost>, whose members are
# loopback ports nobody listens on).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VfBal;

plan skip_all => 'needs root (httpd -t with User www-data)' if $> != 0;

my $bed = VfBal->new;
my $dir = $bed->dir;

# Writes a configuration whose health-check line is $hc (and whose balancer
# section is $bal, when given) at the end of the main server part; returns
# (path, line number of the VhostFcgiHealthCheck line).
my $count = 0;
sub conf_with {
    my (%o) = @_;
    my $bal = $bed->balancer_conf;
    $bal =~ s/^VhostFcgiHealthCheck .*\n//m;
    $bal .= "$o{hc}\n" if defined $o{hc};
    my $text = $bed->httpd_conf_text(balancer => $bal,
                                     extra => $o{extra} // '');
    my $path = write_file("$dir/test" . ++$count . '.conf', $text);
    my $line = 0;
    my $i = 0;
    for (split /\n/, $text) {
        $i++;
        $line = $i if /^\s*VhostFcgiHealthCheck\b/;
    }
    return ($path, $line);
}

sub config_test {
    my ($path) = @_;
    return run_cmd(httpd_bin(), '-t', '-f', $path);
}

# Sane settings pass.
for my $hc ('VhostFcgiHealthCheck balancer://php',
            'VhostFcgiHealthCheck balancer://php path=/ping interval=1 '
            . 'timeout=0.5 fails=2 passes=2',
            'VhostFcgiHealthCheck balancer://php path=values interval=0.5 '
            . 'timeout=0.2 fails=1 passes=100',
            'VhostFcgiHealthCheck balancer://php path=/fpm-ping interval=5',
            # The shortest of each.
            'VhostFcgiHealthCheck balancer://php interval=0.1 '
            . 'timeout=0.001') {
    my ($path) = conf_with(hc => $hc);
    my ($rc, $out) = config_test($path);
    is($rc, 0, "accepted: $hc") or diag($out);
}

my @bad = (
    [ 'interval=0', 'VhostFcgiHealthCheck balancer://php interval=0',
      qr/interval must be a number of seconds from 0\.1 to 3600 \(got '0'\)/ ],
    [ 'interval not a number',
      'VhostFcgiHealthCheck balancer://php interval=5s',
      qr/interval must be a number of seconds/ ],
    # Regression: nan passed every comparison, and a timeout under 1 us
    # became 0 (a non-blocking socket: every check failed, every member
    # was taken out); timeouts and intervals under a millisecond passed.
    [ 'timeout=nan', 'VhostFcgiHealthCheck balancer://php timeout=nan',
      qr/timeout must be a number of seconds from 0\.001 to 3600 \(got 'nan'\)/ ],
    [ 'interval=nan', 'VhostFcgiHealthCheck balancer://php interval=nan',
      qr/interval must be a number of seconds from 0\.1 to 3600 \(got 'nan'\)/ ],
    [ 'timeout=inf', 'VhostFcgiHealthCheck balancer://php timeout=inf',
      qr/timeout must be a number of seconds from 0\.001 to 3600 \(got 'inf'\)/ ],
    [ 'timeout=1e-9', 'VhostFcgiHealthCheck balancer://php timeout=1e-9',
      qr/timeout must be a number of seconds from 0\.001 to 3600 \(got '1e-9'\)/ ],
    [ 'timeout under 1 ms',
      'VhostFcgiHealthCheck balancer://php interval=1 timeout=0.0009',
      qr/timeout must be a number of seconds from 0\.001 to 3600/ ],
    [ 'interval=1e-3 timeout=1e-4',
      'VhostFcgiHealthCheck balancer://php interval=1e-3 timeout=1e-4',
      qr/interval must be a number of seconds from 0\.1 to 3600 \(got '1e-3'\)/ ],
    [ 'interval under the 100 ms watchdog tick',
      'VhostFcgiHealthCheck balancer://php interval=0.05 timeout=0.01',
      qr/interval must be a number of seconds from 0\.1 to 3600/ ],
    [ 'path without a slash',
      'VhostFcgiHealthCheck balancer://php path=ping',
      qr/path must be 'values' or a URL path/ ],
    [ 'path with a query', 'VhostFcgiHealthCheck balancer://php path=/ping?x',
      qr/path must be 'values' or a URL path/ ],
    [ 'timeout equal to interval',
      'VhostFcgiHealthCheck balancer://php interval=1 timeout=1',
      qr/timeout must be shorter than interval/ ],
    [ 'timeout above interval',
      'VhostFcgiHealthCheck balancer://php timeout=3 interval=2',
      qr/timeout must be shorter than interval/ ],
    [ 'timeout above the default interval (5)',
      'VhostFcgiHealthCheck balancer://php timeout=6',
      qr/timeout must be shorter than interval/ ],
    [ 'fails=0', 'VhostFcgiHealthCheck balancer://php fails=0',
      qr/fails must be 1\.\.100/ ],
    [ 'passes=0', 'VhostFcgiHealthCheck balancer://php passes=0',
      qr/passes must be 1\.\.100/ ],
    [ 'unknown option', 'VhostFcgiHealthCheck balancer://php retries=3',
      qr/unknown option 'retries=3'/ ],
    [ 'no balancer:// first', 'VhostFcgiHealthCheck php interval=1',
      qr/needs balancer:\/\/NAME first/ ],
    [ 'a balancer that is not defined',
      'VhostFcgiHealthCheck balancer://nope interval=1 timeout=0.5',
      qr/no <Proxy balancer:\/\/nope>/ ],
);

for my $case (@bad) {
    my ($name, $hc, $re) = @$case;
    my ($path, $line) = conf_with(hc => $hc);
    my ($rc, $out) = config_test($path);
    subtest "refused: $name ($hc)" => sub {
        isnt($rc, 0, 'apache2 -t exits non-zero');
        like($out, $re, 'says what is wrong');
        like($out, qr/(?:line \Q$line\E of \Q$path\E|\Q$path\E:\Q$line\E\b)/,
             "names $path line $line");
        diag("apache2 -t (exit $rc):\n" . join '', map { "  | $_\n" }
             split /\n/, $out) if $rc == 0 || $out !~ /\Q$path\E/;
    };
}

# Only in the server configuration: not in a <VirtualHost>.
{
    my $vh = "<VirtualHost 127.0.0.1:1>\n"
             . "    VhostFcgiHealthCheck balancer://php\n</VirtualHost>\n";
    my ($path) = conf_with(extra => $vh);
    my $text = VfBal::slurp($path);
    my ($before) = $text =~ /\A(.*?)    VhostFcgiHealthCheck/s;
    my $line = 1 + ($before =~ tr/\n//);
    my ($rc, $out) = config_test($path);
    subtest 'refused: VhostFcgiHealthCheck in a <VirtualHost>' => sub {
        isnt($rc, 0, 'apache2 -t exits non-zero');
        like($out, qr/not allowed in <VirtualHost>|cannot occur within/i,
             'says it belongs in the server configuration');
        like($out, qr/\Q$path\E:\Q$line\E: /,
             "names $path:$line, in one line");
    };
}

# The undefined balancer stops a real start too, with file:line in the log
# (the check runs in post_config, which apache2 -t does not reach).
{
    my ($path, $line) = conf_with(
        hc => 'VhostFcgiHealthCheck balancer://nope interval=1 timeout=0.5');
    my $elog = $bed->error_log_size;
    my ($rc, $out) = run_cmd(httpd_bin(), '-f', $path, '-k', 'start');
    if ($rc == 0) {             # it started after all: stop it
        $bed->{conf} = $path;
        if (wait_for(sub { -s "$dir/httpd.pid" }, 5)) {
            $bed->{httpd_pid} = (split ' ', VfBal::slurp("$dir/httpd.pid"))[0];
            $bed->stop_httpd;
        }
    }
    my $log = $out . VfBal::slurp($bed->error_log, $elog);
    subtest 'a balancer that is not defined stops httpd at startup' => sub {
        isnt($rc, 0, 'apache2 -k start exits non-zero');
        my $want = "$path:$line: VhostFcgiHealthCheck: no "
                   . '<Proxy balancer://nope>';
        like($log, qr/\Q$want\E/,
             "error log names $path:$line");
    };
}

# A balancer defined inside a <VirtualHost> (only there: its VhostFcgiPool
# is in that vhost).  VhostFcgiHealthCheck belongs in the server
# configuration but checks that balancer all the same.  Regression: the
# check only searched the main server's balancers, so startup failed with
# AH10712 "no <Proxy balancer://inner> with BalancerMember lines is
# defined".  Its members are loopback ports nobody listens on: the checks
# run (and fail with "connect: ...") without contacting anything, and take
# the members out, as the vhost's status page shows.
sub inner_vhost {
    my ($port, @members) = @_;
    my $m = join '', map { "        BalancerMember fcgi://127.0.0.1:$_\n" } @members;
    return "Listen 127.0.0.1:$port\n"
        . "<VirtualHost 127.0.0.1:$port>\n"
        . "    ServerName inner.test\n"
        . "    DocumentRoot \"$dir/htdocs\"\n"
        . "    <Proxy balancer://inner>\n$m    </Proxy>\n"
        . "    VhostFcgiPool balancer://inner\n"
        . "    <Location /status>\n"
        . "        SetHandler vhostfcgi-status\n"
        . "    </Location>\n"
        . "</VirtualHost>\n";
}
{
    my $iport = free_port();
    my @dead = (free_port(), free_port());
    my ($path, $line) = conf_with(
        extra => inner_vhost($iport, @dead)
                 . "VhostFcgiHealthCheck balancer://inner interval=0.5 "
                 . "timeout=0.2\n");
    my ($rc, $out) = config_test($path);
    is($rc, 0, 'accepted: VhostFcgiHealthCheck of a balancer defined in a '
               . '<VirtualHost>') or diag($out);

    # A real start: the watchdog checks the vhost's members, and the
    # vhost's status page shows those checks.
    my $elog = $bed->error_log_size;
    ($rc, $out) = run_cmd(httpd_bin(), '-f', $path, '-k', 'start');
    my $started = $rc == 0 && wait_for(sub { -s "$dir/httpd.pid" }, 5);
    if ($started) {
        $bed->{conf} = $path;
        $bed->{httpd_pid} = (split ' ', VfBal::slurp("$dir/httpd.pid"))[0];
    }
    my %seen;
    if ($started) {
        require HTTP::Tiny;
        require JSON::PP;
        my $ua = HTTP::Tiny->new(timeout => 3);
        wait_for(sub {
            my $res = $ua->get("http://127.0.0.1:$iport/status?json");
            return 0 unless $res->{status} == 200;
            my $j = eval { JSON::PP::decode_json($res->{content}) } or return 0;
            %seen = map { ($_->{member} => $_) }
                    grep { ($_->{balancer} // '') =~ m{balancer://inner$} }
                    @{$j->{backends} || []};
            return 2 == grep { ($_->{checks} // 0) >= 2
                               && ($_->{state} // '') eq 'health-check-failed' }
                        values %seen;
        }, 10, 0.2);
        $bed->stop_httpd;
    }
    subtest 'a balancer defined in a <VirtualHost> is health-checked' => sub {
        ok($started, 'httpd starts') or diag("apache2 -k start (exit $rc): "
            . $out . VfBal::slurp($bed->error_log, $elog));
        for my $p (@dead) {
            my $b = $seen{"fcgi://127.0.0.1:$p"};
            ok($b && $b->{checks} >= 2,
               "member 127.0.0.1:$p checked (" . ($b ? $b->{checks} : 'no')
               . ' checks)');
            like($b ? $b->{health} : '', qr/connect/,
                 "member 127.0.0.1:$p: its last check says why it failed");
            is($b ? $b->{state} : '', 'health-check-failed',
               "member 127.0.0.1:$p: taken out (fails=2)");
        }
    };
}

# The same balancer name defined in two <VirtualHost>s (and not in the
# main server): two different balancers, and one server-wide check cannot
# tell which one it means.
{
    my ($p1, $p2) = (free_port(), free_port());
    my ($path, $line) = conf_with(
        extra => inner_vhost($p1, free_port()) . inner_vhost($p2, free_port())
                 . "VhostFcgiHealthCheck balancer://inner\n");
    my ($rc, $out) = config_test($path);
    subtest 'refused: the checked balancer is defined in two <VirtualHost>s'
        => sub {
        isnt($rc, 0, 'apache2 -t exits non-zero');
        like($out, qr/more than one <VirtualHost>/, 'says what is wrong');
        like($out, qr/\Q$path\E:\Q$line\E\b/, "names $path line $line");
    };
}

done_testing;
