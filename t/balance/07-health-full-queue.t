#!/usr/bin/perl
# A Unix-socket member whose listen queue is full (an overloaded php-fpm,
# or a SIGSTOPped master) does not stop the health checks.
#
# Regression: the check connected to a Unix socket with a blocking
# connect() and no bound, and a full queue holds such a connect until the
# backend accepts, which here is never.  The one watchdog thread that
# checks every member of every balancer hung there: a member taken out by
# failed checks never came back, and httpd could not stop its child (the
# watchdog thread is joined) until it was SIGKILLed; after a graceful
# restart the new generation hung the same way.
#
# Here: balancer://php of two Unix-socket members (their names after the
# '|' differ: httpd takes two members that share one for the same worker):
#   full  a socket that listens with a backlog of 0 and never accepts,
#         its queue filled by this script;
#   good  t/bin/fcgi-misbehave, started only once the checks have taken
#         it out (its socket is missing until then).
# Checks: interval=0.5 timeout=0.3 fails=2 passes=2.  Both are taken out
# (the full one because its queue stayed full for the whole timeout), the
# error log naming each by its socket; "good" is back within 10 s of its
# start (2 checks, 0.5 s apart, are enough; 10 s only allows for a busy
# box), again after a graceful restart, and httpd stops within 10 s
# without SIGKILLing a child.  Last, a request that "good" answers with
# FCGI_OVERLOADED is logged with the member's socket, not "localhost".
# No namespaces, no php-fpm: a few seconds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use IO::Handle;
use POSIX qw(EAGAIN EWOULDBLOCK);
use Socket qw(PF_UNIX SOCK_STREAM pack_sockaddr_un);
use Time::HiRes qw(time sleep);
use VfBal;

plan skip_all => 'needs root (httpd with User www-data)' if $> != 0;
plan skip_all => 'build/bin/fcgi-misbehave missing: run make first'
    unless -x repo_dir() . '/build/bin/fcgi-misbehave';

my $BACK_BOUND = 10;        # seconds, for what 2 checks at 0.5 s achieve
my $STOP_BOUND = 10;

my $bed = VfBal->new;
my $dir = $bed->dir;
write_file("$dir/htdocs/overloaded.php", "<?php // fcgi-misbehave\n");

my $full = "$dir/full.sock";
my $good = "$dir/good.sock";
my $full_name = "unix:$full|fcgi://full";
my $good_name = "unix:$good|fcgi://good";

# A connect to $full that does not block: 1 when it got into the queue,
# 0 when the queue is full (EAGAIN).
sub try_queue {
    my ($keep) = @_;
    socket(my $s, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!\n";
    $s->blocking(0);
    if (connect($s, pack_sockaddr_un($full))) {
        push @$keep, $s;
        return 1;
    }
    return 0 if $! == EAGAIN || $! == EWOULDBLOCK;
    die "connect $full: $!\n";
}

# The full member: listen(0), never accept(), queue filled.
socket(my $listener, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!\n";
bind($listener, pack_sockaddr_un($full)) or die "bind $full: $!\n";
chmod 0666, $full;
listen($listener, 0) or die "listen: $!\n";
my @queued;
for (1 .. 64) {
    last unless try_queue(\@queued);
}
ok(@queued && !try_queue(\@queued),
   'the listen queue of the full member is full (' . scalar(@queued)
   . ' waiting; one more gets EAGAIN)');

my $taken_out = sub {
    my ($name, $why) = @_;
    my $text = "AH10710: VhostFcgiHealthCheck: balancer://php member $name "
               . "taken out after 2 failed checks: $why";
    return qr/\Q$text\E/;
};
my $back = sub {
    my $text = "AH10711: VhostFcgiHealthCheck: balancer://php member $_[0] "
               . 'back after 2 good checks';
    return qr/\Q$text\E/;
};

my $bal = "<Proxy balancer://php>\n"
    . "    BalancerMember \"$full_name\" timeout=3 retry=30\n"
    . "    BalancerMember \"$good_name\" timeout=3 retry=30\n"
    . "</Proxy>\n"
    . "VhostFcgiHealthCheck balancer://php interval=0.5 timeout=0.3 "
    . "fails=2 passes=2\n";
my $conf = $bed->start_httpd_with($bal);
my $httpd = $bed->{httpd_pid};

subtest 'both members taken out, each named by its socket' => sub {
    my $log = $bed->wait_log(0, $taken_out->($good_name, 'connect: '), 10);
    ok($log, "$good_name (no socket yet) taken out")
        or diag($bed->error_log_tail);
    $log = $bed->wait_log(0, $taken_out->($full_name, 'connect: listen '
                          . 'queue full for 0.3 s (overloaded)'), 10);
    ok($log, "$full_name (queue full) taken out: the connect gave up "
       . 'after the timeout') or diag($bed->error_log_tail);
};

subtest 'the healthy member comes back while the other is stuck' => sub {
    my $from = $bed->error_log_size;
    my $t0 = time;
    $bed->start_misbehave($good);
    my $log = $bed->wait_log($from, $back->($good_name), $BACK_BOUND);
    ok($log, "$good_name back within $BACK_BOUND s of its start")
        or diag($bed->error_log_tail);
    diag(sprintf 'back after %.1f s', time - $t0) if $log;
    unlike($log // '', $back->($full_name), "$full_name stays out");
};

subtest 'after a graceful restart the checks go on' => sub {
    my $from = $bed->error_log_size;
    my ($rc, $out) = run_cmd(httpd_bin(), '-f', $conf, '-k', 'graceful');
    is($rc, 0, 'apache2 -k graceful') or diag($out);
    ok($bed->wait_log($from, qr/resuming normal operations/, 10),
       'the new generation is up');
    $from = $bed->error_log_size;
    $bed->stop_misbehave($good);
    ok($bed->wait_log($from, $taken_out->($good_name, 'connect: '),
                      $BACK_BOUND), "$good_name taken out again once it is "
                                    . 'gone')
        or diag($bed->error_log_tail);
    $from = $bed->error_log_size;
    $bed->start_misbehave($good);
    ok($bed->wait_log($from, $back->($good_name), $BACK_BOUND),
       "$good_name back again within $BACK_BOUND s")
        or diag($bed->error_log_tail);
};

subtest 'FCGI_OVERLOADED names the member by its socket' => sub {
    my $from = $bed->error_log_size;
    my $res = HTTP::Tiny->new(timeout => 10)
                  ->get($bed->url('/overloaded.php'));
    is($res->{status}, 503, 'the request gets 503');
    my $text = "AH10644: FastCGI backend unix:$good (vhost bal.test) is "
               . 'overloaded (FCGI_OVERLOADED)';
    ok($bed->wait_log($from, qr/\Q$text\E/, 5),
       "AH10644 names unix:$good") or diag($bed->error_log_tail);
};

subtest 'httpd stops cleanly' => sub {
    my $from = $bed->error_log_size;
    my $t0 = time;
    kill 'TERM', $httpd;
    my $gone = wait_for(sub { !kill(0, $httpd) }, $STOP_BOUND);
    ok($gone, sprintf('httpd stopped within %d s (%.1f s)', $STOP_BOUND,
                      time - $t0));
    delete $bed->{httpd_pid} if $gone;
    my $log = VfBal::slurp($bed->error_log, $from);
    unlike($log, qr/still did not exit|SIGKILL/,
           'no child had to be killed') or diag($log);
};

close $listener;
close $_ for @queued;
done_testing;
