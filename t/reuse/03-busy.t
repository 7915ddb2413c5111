# 50 httpd threads (2 children x 25) in front of a pool of 4 php-fpm
# workers (vhost vf_busy: VhostFcgiPool unix:... max=4), a script that
# sleeps 50 ms, 50 concurrent keep-alive clients: every request completes
# (kept connections never pin the workers while other requests queue).
# The bound is generous: 200 requests need ~2.5 s of the workers' time;
# all must be done within 60 s.
#
# First, twice as many clients as workers on a short script: the requests
# over max wait in httpd and get a finishing request's connection handed
# over, so the pool opens a handful of connections, not one per few
# requests (as it would if they queued at the backend and kept connections
# made way for them).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason pool_status);
use VhostFcgi::Load ();

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 5 + 4;

my $res = raw_request('vf_busy', 'GET', '/reuse/sleep.php?ms=50');
is($res->{status}, 200, 'the busy pool answers');

# --- 8 clients, 4 workers, a 5 ms script ----------------------------------
my $pool = "unix:$ENV{VF_BUSY_SOCK}";
my $st0 = pool_status($pool);
my $h = VhostFcgi::Load::run(vhost => 'vf_busy', path => '/reuse/sleep.php?ms=5',
                             clients => 8, requests => 800, keepalive => 1,
                             deadline => 60, timeout => 30);
my $st1 = pool_status($pool);
diag('8 keep-alive clients, 4 workers, 5 ms script: ' . VhostFcgi::Load::summary($h));
diag('module counters (status page): ' . VhostFcgi::Pools::status_delta($st0, $st1));
is($h->{ok}, 800, '8 clients, 800 requests: all 200') or diag(join "\n", @{ $h->{errors} });
SKIP: {
    skip 'no status page for the busy pool', 3 unless $st0 && $st1;
    my $opened = $st1->{opened} - $st0->{opened};
    my $requests = $st1->{requests} - $st0->{requests};
    cmp_ok($requests, '>=', 800, 'the pool counted the requests');
    if (per_process_mpm()) { pass('(' . PER_PROCESS_WHY . ')') }
    else {
        cmp_ok($opened * 20, '<=', $requests,
               "requests over max were handed kept connections ($opened opened for $requests requests)");
    }
    is($st1->{waiting}, 0, 'no request left waiting afterwards');
}

my $r = VhostFcgi::Load::run(vhost => 'vf_busy', path => '/reuse/sleep.php?ms=50',
                             clients => 50, requests => 200, keepalive => 1,
                             deadline => 60, timeout => 60);
diag('50 keep-alive clients, 4 workers: ' . VhostFcgi::Load::summary($r));
is($r->{done}, 200, 'every one of 200 requests got an answer');
is($r->{ok}, 200, 'all of them 200') or diag(join "\n", @{ $r->{errors} });
ok(!$r->{timed_out} && $r->{elapsed} < 60, sprintf 'all done within 60 s (%.1f s)', $r->{elapsed});

$res = raw_request('vf_unix', 'GET', '/php/hello.php');
is($res->{status}, 200, 'other sites served afterwards');
