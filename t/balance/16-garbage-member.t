#!/usr/bin/perl
# A member that does not speak FastCGI: 502 per request, and in the
# rotation unless the balancer has failonstatus=502.
#
# The case: a balancer member's socket is served by a wrong service, here
# an HTTP server that answers every connection "HTTP/1.1 400 Bad Request"
# and closes, so the first record header the module reads has version 72
# ('H').  The module answers that request 502 (AH10640 "unexpected
# FastCGI version 72") and returns 502 to mod_proxy, whose handler puts a
# member in error only for 500 and 503: the member stays in, on purpose
# (one script's garbage answer must not take a member out; stock
# mod_proxy_fcgi returns 503 here and fails over).  An admin who wants
# such a member out adds failonstatus=502: mod_proxy sets r->status to the
# scheme handler's 502 before its post_request hooks run, so
# mod_proxy_balancer's failonstatus sees it.
#
# Members: "unix:a.sock|fcgi://a", t/bin/fcgi-misbehave (echo), and
# "unix:b.sock|fcgi://b", the HTTP server forked below.  No health checks
# but in 3 (they take b out on their own).
#   1. byrequests, no failonstatus: of 10 requests about half (those sent
#      to b) get 502, the others 200 from a; AH10640 names b's socket and
#      the version; no member is forced into error; the status page shows
#      both members ok.  This is the behaviour as it is, documented.
#   2. ProxySet failonstatus=502, retry=300: of the first two requests one
#      meets b and gets 502, AH01174 forces b into error, the status page
#      says so, and the next 10 requests are all 200 from a (b's server
#      sees no further connection).
#   3. No failonstatus, VhostFcgiHealthCheck: b fails its checks (AH10710
#      with the same reason) and is taken out; 10 requests, all 200 from a.
# No namespaces, no php-fpm: a few seconds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use IO::Select;
use IO::Socket::UNIX;
use POSIX ();
use Time::HiRes qw(time sleep);
use Socket qw(SOCK_STREAM);
use VfBal;

plan skip_all => 'needs root (httpd with User www-data)' if $> != 0;
plan skip_all => 'build/bin/fcgi-misbehave missing: run make first'
    unless -x repo_dir() . '/build/bin/fcgi-misbehave';

my $bed = VfBal->new(health => undef);
my $dir = $bed->dir;
write_file("$dir/htdocs/echo.php", "<?php // fcgi-misbehave\n");

my ($a_sock, $b_sock) = ("$dir/a.sock", "$dir/b.sock");
my $conns = "$dir/garbage.conns";       # one line per connection b took

# ------------------------------------------------------------------------
# The wrong service on b.sock: a forked child, killed at exit whatever
# happens (this END block runs before VfBal's, which removes $dir).
# ------------------------------------------------------------------------
my $PARENT = $$;
my $garbage_pid;

END {
    if ($$ == $PARENT && $garbage_pid) {
        local $?;                       # keep the test's exit status
        kill 'KILL', $garbage_pid;
        waitpid($garbage_pid, 0);
        undef $garbage_pid;
    }
}

my $ANSWER = "HTTP/1.1 400 Bad Request\r\n"
           . "Server: not-fastcgi\r\n"
           . "Content-Type: text/html\r\n"
           . "Content-Length: 20\r\n"
           . "Connection: close\r\n"
           . "\r\n"
           . "<h1>Bad Request</h1>";

# One connection, as an HTTP server takes a request it cannot parse: read
# what came, answer 400, stop writing and read on until the peer closes
# (so that nothing unread is left when the socket goes), 5 s at most.
sub serve_garbage {
    my ($c) = @_;
    my $sel = IO::Select->new($c);
    my $buf;
    sysread($c, $buf, 65536) if $sel->can_read(5);
    syswrite($c, $ANSWER);
    shutdown($c, 1);
    my $end = time + 5;
    while (time < $end && $sel->can_read(1)) {
        last unless sysread($c, $buf, 65536);
    }
    close $c;
}

sub start_garbage {
    my ($path) = @_;
    unlink $path;
    my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path,
                                  Listen => 16)
        or die "listen on $path: $!\n";
    chmod 0666, $path;                  # httpd's children are www-data
    my $pid = fork // die "fork: $!\n";
    if ($pid == 0) {
        $SIG{$_} = 'DEFAULT' for qw(INT TERM HUP);
        while (1) {
            my $c = $l->accept or do { sleep 0.1; next };
            if (open my $log, '>>', $conns) {
                print $log "1\n";
                close $log;
            }
            serve_garbage($c);
        }
        POSIX::_exit(0);
    }
    close $l;
    $garbage_pid = $pid;
}

sub garbage_conns {
    return scalar(() = VfBal::slurp($conns) =~ /\n/g);
}

# ------------------------------------------------------------------------
# Helpers
# ------------------------------------------------------------------------

my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
my $n = 0;

# One GET of /echo.php: (status, request id for the access log).
sub get {
    my $id = 'r' . ++$n;
    my $res = $ua->get($bed->url("/echo.php?n=$n"),
                       { headers => { 'X-Req-Id' => $id } });
    return ($res->{status}, $id);
}

# The access log from byte $from, once it has a line for each id in
# @$ids: { id => [status, member name ('a', 'b' or the worker as logged)] }.
sub served {
    my ($from, $ids) = @_;
    my %e;
    wait_for(sub {
        %e = ();
        for (split /\n/, VfBal::slurp($bed->access_log, $from)) {
            my ($id, $st, $worker) = split ' ';
            next unless defined $worker;
            $e{$id} = [$st, $worker =~ m{fcgi://([ab])/?$} ? $1 : $worker];
        }
        !grep { !$e{$_} } @$ids;
    }, 5);
    return \%e;
}

# The main status page: { a => state, b => state }.
# 10 requests, all 200 from a (two tests).
sub all_to_a {
    my ($what) = @_;
    my $alog = $bed->access_log_size;
    my (@bad, @ids);
    for (1 .. 10) {
        my ($st, $id) = get();
        push @bad, $st if $st != 200;
        push @ids, $id;
    }
    is("@bad", '', "$what: all 200");
    my $acc = served($alog, \@ids);
    my @not_a = grep { !$acc->{$_} || $acc->{$_}[1] ne 'a' } @ids;
    is(scalar @not_a, 0, '... all served by a')
        or diag(explain { map { $_ => $acc->{$_} } @not_a });
}

sub states {
    my $j = $bed->status('main') or return {};
    my %st;
    for my $m (@{$j->{backends} || []}) {
        next unless ($m->{balancer} // '') =~ m{balancer://php$};
        $st{$1} = $m->{state} if ($m->{member} // '') =~ m{fcgi://([ab])/?$};
    }
    return \%st;
}

sub state_text {
    my $st = states();
    return join ' ', map { "$_=" . ($st->{$_} // '?') } qw(a b);
}

# httpd (again) with balancer://php of a and b, the ProxySet lines in
# @$set, and $after after the <Proxy> section.
sub start_with {
    my ($set, $after) = @_;
    $bed->stop_httpd;
    delete @{$bed}{qw(port sport)};
    my $bal = "<Proxy balancer://php>\n"
        . "    BalancerMember \"unix:$a_sock|fcgi://a\" timeout=3 retry=300\n"
        . "    BalancerMember \"unix:$b_sock|fcgi://b\" timeout=3 retry=300\n"
        . "    ProxySet lbmethod=byrequests\n"
        . join('', map { "    ProxySet $_\n" } @{$set || []})
        . "</Proxy>\n" . ($after // '');
    $bed->start_httpd_with($bal);
    wait_for(sub { states()->{b} }, 10)
        or die "httpd does not show its members on /status?json\n"
               . $bed->error_log_tail;
}

my $version_error = qr{AH10640: FastCGI backend \Qunix:$b_sock\E \(vhost bal\.test, /echo\.php\): unexpected FastCGI version 72\b};
my $forced = qr{AH01174: balancer://php: Forcing worker \(\Qunix:$b_sock|fcgi://b\E\) into error state due to status code 502 matching 'failonstatus'};

eval {
    $bed->start_misbehave($a_sock);
    start_garbage($b_sock);
    1;
} or BAIL_OUT("members did not come up: $@");

# ------------------------------------------------------------------------
# 1. No failonstatus: b's requests get 502, b stays in.
# ------------------------------------------------------------------------
subtest 'without failonstatus: 502 per request, the member stays in' => sub {
    eval { start_with(); 1 } or return fail("httpd did not start: $@");
    my ($elog, $alog) = ($bed->error_log_size, $bed->access_log_size);
    my (%count, @ids);
    for (1 .. 10) {
        my ($st, $id) = get();
        $count{$st}++;
        push @ids, $id;
    }
    my $acc = served($alog, \@ids);
    my %by;
    $by{"$_->[0] $_->[1]"}++ for map { $acc->{$_} || ['-', '-'] } @ids;
    diag('status and member: '
         . join(', ', map { "$_ x$by{$_}" } sort keys %by));
    my $bad = $count{502} // 0;
    ok($bad >= 3 && $bad <= 7, "about half of 10 requests get 502 ($bad)");
    is(($count{200} // 0) + $bad, 10, 'the others 200');
    is(($by{'502 b'} // 0), $bad, 'every 502 is a request sent to b');
    is(($by{'200 a'} // 0), $count{200} // 0, 'every 200 is served by a');
    my $log = VfBal::slurp($bed->error_log, $elog);
    like($log, $version_error,
         'AH10640 names b and the bad version (72, an "H")')
        or diag($bed->error_log_tail);
    unlike($log, qr/Forcing worker|AH01174/, 'no member is forced out');
    is(state_text(), 'a=ok b=ok', 'the status page: both members ok')
        or diag($bed->status_text('main'));
};

# ------------------------------------------------------------------------
# 2. failonstatus=502: the first 502 takes b out for retry= seconds.
# ------------------------------------------------------------------------
subtest 'failonstatus=502: the member is taken out' => sub {
    eval { start_with(['failonstatus=502']); 1 }
        or return fail("httpd did not start: $@");
    is(state_text(), 'a=ok b=ok', 'both members ok at the start');
    my ($elog, $alog) = ($bed->error_log_size, $bed->access_log_size);
    my $conns0 = garbage_conns();

    # byrequests: one of the first two requests goes to b.
    my (@first, @ids);
    for (1 .. 2) {
        my ($st, $id) = get();
        push @first, $st;
        push @ids, $id;
    }
    is(join(' ', sort @first), '200 502',
       'of the first two requests one (the one sent to b) gets 502');
    my $acc = served($alog, \@ids);
    is(join(' ', sort map { $acc->{$_} ? "$acc->{$_}[0] $acc->{$_}[1]"
                                        : '-' } @ids),
       '200 a 502 b', '... by the access log: 502 from b, 200 from a');
    # (mod_proxy_balancer logs AH01174 as the request ends)
    $bed->wait_log($elog, $forced, 5);
    my $log = VfBal::slurp($bed->error_log, $elog);
    like($log, $version_error, 'AH10640 names b and the bad version');
    like($log, $forced, 'AH01174: b forced into error (failonstatus 502)')
        or diag($bed->error_log_tail);
    is(state_text(), 'a=ok b=error', 'the status page: b in error')
        or diag($bed->status_text('main'));

    all_to_a('the next 10 requests');
    is(garbage_conns() - $conns0, 1, "b's server saw one connection only");
};

# ------------------------------------------------------------------------
# 3. No failonstatus, but health checks: they take b out.
# ------------------------------------------------------------------------
subtest 'the health check takes the member out' => sub {
    my $elog = $bed->error_log_size;
    eval {
        start_with([], "VhostFcgiHealthCheck balancer://php interval=0.5 "
                       . "timeout=0.3 fails=2 passes=2\n");
        1;
    } or return fail("httpd did not start: $@");
    my $out = qr{AH10710: VhostFcgiHealthCheck: balancer://php member \Qunix:$b_sock|fcgi://b\E taken out after 2 failed checks: unexpected FastCGI version 72\b};
    ok($bed->wait_log($elog, $out, 10),
       'AH10710: b taken out after 2 checks, with the reason')
        or diag($bed->error_log_tail);
    is(state_text(), 'a=ok b=health-check-failed',
       'the status page: b out, a ok') or diag($bed->status_text('main'));
    all_to_a('then 10 requests');
};

$bed->stop_httpd;
done_testing;
