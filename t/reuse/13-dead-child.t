# An httpd child killed while it serves a pool's requests gives its share
# of the pool's counters back (vhost vf_dead_child: php-fpm pool www2 as
# a pool of its own, max=2, VhostFcgiMaxInFlight 2 queue=0).
#
# The bug: the counters in shared memory (in flight, connections open,
# busy, ...) were taken back only by the process that counted them.  With
# two slow requests in flight, a kill -9 of the child serving them left
# the status page at inflight 2, open 2, busy 2 for good, and every later
# request of the pool got 503 (AH10700) until httpd restarted.
#
# Here: two slow requests in flight, the children serving them (found
# through /proc) killed with SIGKILL; within 10 s (the parent learns of a
# death within about a second) the status page shows nothing in flight,
# and new requests are admitted, two at once.
#
# Then across a graceful restart, whose new generation goes on with the
# same figures (regression: it started from zero, so the old generation's
# requests did not count against max= and VhostFcgiMaxInFlight): a request
# the old generation still serves keeps its place, a third request is
# refused, and when the old child dies, or a new one, its share is given
# back.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason pool_status pool_status_until
                         pool_figures pool_idle);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan skip_all => 'needs /proc' unless -r '/proc/net/tcp';
plan tests => 24;

my $vhost = 'vf_dead_child';
my $name = "fcgi://127.0.0.1:$ENV{VF_FPM_PORT2}";
# Long enough to be in flight when the child dies; the php-fpm workers
# running them finish on their own a few seconds later.
my $slow = '/reuse/sleep.php?ms=6000';




# A request sent on a connection of its own, not read yet.
sub send_get {
    my $path = shift;
    my $sock = raw_connect($vhost);
    syswrite $sock, "GET $path HTTP/1.1\r\nHost: localhost\r\n"
                  . "Connection: close\r\n\r\n";
    return { sock => $sock, sent => time };
}

my @held = map { send_get($slow) } 1 .. 2;

my ($ok, $s) = pool_status_until(
    $name, sub { $_[0]{inflight} == 2 && $_[0]{busy} == 2 }, 5);
ok($ok, 'two slow requests in flight: ' . pool_figures($s));
my $third = raw_request($vhost, 'GET', '/reuse/hello.php', timeout => 15);
is($third->{status}, 503, 'meanwhile a third is refused (VhostFcgiMaxInFlight 2 queue=0)');

my %serving;
for my $h (@held) {
    my $pid = httpd_child_serving($h->{sock});
    $serving{$pid} = 1 if $pid;
}
my @pids = sort keys %serving;
ok(@pids >= 1, 'the httpd child(ren) serving them: ' . join(', ', @pids));
is(kill('KILL', @pids), scalar @pids, 'killed with SIGKILL');
my $killed = time;
close $_->{sock} for @held;

($ok, $s) = pool_status_until($name, \&pool_idle, 10);
ok($ok, sprintf 'within 10 s the status page shows nothing in flight '
              . '(%.2f s after the kill): %s', time - $killed,
              pool_figures($s));

my $res = raw_request($vhost, 'GET', '/reuse/hello.php', timeout => 15);
is($res->{status}, 200, 'a new request is admitted');

# Both places are back, not just one: two at once are admitted.
my @pair = map { send_get('/reuse/sleep.php?ms=300') } 1 .. 2;
read_held(\@pair, 15);
is(scalar(grep { ($_->{res}{status} // 0) == 200 } @pair), 2,
   'two requests at once are both admitted: '
   . join(', ', map { $_->{res}{status} // 'none' } @pair));

# And the figures stay those of what is really there (a connection goes
# back a moment after its answer went out).
($ok, $s) = pool_status_until($name, \&pool_idle, 5);
ok($ok, 'afterwards nothing is in flight: ' . pool_figures($s));
ok($s && $s->{open} <= 2, 'at most max=2 connections open');
ok($s && $s->{errors}{admission} >= 1, 'the refusal was counted');

# --- across a graceful restart ---------------------------------------------
my $old = send_get($slow);
($ok, $s) = pool_status_until($name, sub { $_[0]{inflight} == 1 }, 5);
my $old_pid = ($ok && httpd_child_serving($old->{sock})) || 0;
ok($old_pid, "a slow request in flight in child $old_pid");
my $requests = $s->{requests} // 0;
my $mark = log_mark();
kill 'USR1', httpd_parent_pid();
my $until = time + 10;
sleep 0.1 until log_since($mark) =~ /resuming normal operations/ || time > $until;
like(log_since($mark), qr/resuming normal operations/, 'a graceful restart');
($ok, $s) = pool_status_until($name, sub { $_[0]{inflight} == 1 }, 5);
ok($ok && $s->{requests} >= $requests,
   'the new generation counts the old one\'s request, and keeps the '
   . 'counters: ' . pool_figures($s));

my $new = send_get($slow);
($ok, $s) = pool_status_until(
    $name, sub { $_[0]{inflight} == 2 && $_[0]{busy} == 2 }, 5);
my $new_pid = ($ok && httpd_child_serving($new->{sock})) || 0;
ok($new_pid && $new_pid != $old_pid,
   "another slow request in flight in a new child $new_pid: "
   . pool_figures($s));
$res = raw_request($vhost, 'GET', '/reuse/hello.php', timeout => 15);
is($res->{status}, 503, 'a third is refused: the old generation\'s request '
                        . 'still counts against VhostFcgiMaxInFlight 2');

kill 'KILL', $old_pid if $old_pid;
close $old->{sock};
($ok, $s) = pool_status_until($name, sub {
    $_[0]{inflight} == 1 && $_[0]{busy} == 1 && $_[0]{open} == 1 }, 10);
ok($ok, 'the old child killed: its share is given back: ' . pool_figures($s));
like(log_since($mark), qr/AH10741: .*httpd child $old_pid exited with .*inflight 1/,
     '... and logged');

kill 'KILL', $new_pid if $new_pid;
close $new->{sock};
($ok, $s) = pool_status_until($name, \&pool_idle, 10);
ok($ok, 'the new child killed: nothing in flight: ' . pool_figures($s));
like(log_since($mark), qr/AH10741: .*httpd child $new_pid exited with .*inflight 1/,
     'its share given back is logged');
$res = raw_request($vhost, 'GET', '/reuse/hello.php', timeout => 15);
is($res->{status}, 200, 'a new request is admitted');

# --- across a restart (SIGHUP), which kills the children serving ------------
# The figures outlive it too, so what the killed children counted must go
# back, whether or not the MPM reports each exit.
my @cut = map { send_get($slow) } 1 .. 2;
($ok, $s) = pool_status_until($name, sub { $_[0]{inflight} == 2 }, 5);
ok($ok, 'two slow requests in flight: ' . pool_figures($s));
$mark = log_mark();
kill 'HUP', httpd_parent_pid();
$until = time + 15;
sleep 0.1 until log_since($mark) =~ /resuming normal operations/ || time > $until;
like(log_since($mark), qr/resuming normal operations/, 'a restart');
close $_->{sock} for @cut;
($ok, $s) = pool_status_until($name, \&pool_idle, 10);
ok($ok, 'nothing in flight after it: ' . pool_figures($s));
@pair = map { send_get('/reuse/sleep.php?ms=300') } 1 .. 2;
read_held(\@pair, 15);
is(scalar(grep { ($_->{res}{status} // 0) == 200 } @pair), 2,
   'two requests at once are both admitted: '
   . join(', ', map { $_->{res}{status} // 'none' } @pair));
