# 50 httpd threads (2 children x 25) in front of a pool of 4 php-fpm
# workers (vhost vf_busy: VhostFcgiPool unix:... max=4), a script that
# sleeps 50 ms, 50 concurrent keep-alive clients: every request completes
# (kept connections never pin the workers while other requests queue).
# The bound is generous: 200 requests need ~2.5 s of the workers' time;
# all must be done within 60 s.  Snapshots of the status page during the
# load show where the other 46 requests wait: in httpd, for one of the
# pool's 4 connections (never more open), not in php-fpm's listen queue.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);
use VhostFcgi::Load ();

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 8;

my $res = raw_request('vf_busy', 'GET', '/reuse/sleep.php?ms=50');
is($res->{status}, 200, 'the busy pool answers');

my $pool = 'unix:' . $ENV{VF_BUSY_SOCK};
my @snaps;
my $snap = sub { my $s = VhostFcgi::Pools::pool_status($pool); push @snaps, $s if $s };
my $r = VhostFcgi::Load::run(vhost => 'vf_busy', path => '/reuse/sleep.php?ms=50',
                             clients => 50, requests => 200, keepalive => 1,
                             deadline => 60, timeout => 60,
                             at => [map { ($_ => $snap) } 20, 60, 100, 140]);
diag('50 keep-alive clients, 4 workers: ' . VhostFcgi::Load::summary($r));
is($r->{done}, 200, 'every one of 200 requests got an answer');
is($r->{ok}, 200, 'all of them 200') or diag(join "\n", @{ $r->{errors} });
ok(!$r->{timed_out} && $r->{elapsed} < 60, sprintf 'all done within 60 s (%.1f s)', $r->{elapsed});

my $max_open = 0;
my $max_waiting = 0;
for (@snaps) {
    $max_open = $_->{open} if $_->{open} > $max_open;
    $max_waiting = $_->{waiting} if $_->{waiting} > $max_waiting;
}
diag(sprintf '%d status snapshots: open at most %d, waiting at most %d',
     scalar @snaps, $max_open, $max_waiting);
cmp_ok(scalar @snaps, '>=', 3, 'the status page answered during the load');
cmp_ok($max_open, '<=', 4, 'never more connections open than max=4');
cmp_ok($max_waiting, '>', 0, 'the other requests waited in httpd for a connection');

$res = raw_request('vf_unix', 'GET', '/php/hello.php');
is($res->{status}, 200, 'other sites served afterwards');
