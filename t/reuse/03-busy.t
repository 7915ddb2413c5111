# 50 httpd threads (2 children x 25) in front of a pool of 4 php-fpm
# workers (vhost vf_busy: VhostFcgiPool unix:... max=4), a script that
# sleeps 50 ms, 50 concurrent keep-alive clients: every request completes
# (kept connections never pin the workers while other requests queue).
# The bound is generous: 200 requests need ~2.5 s of the workers' time;
# all must be done within 60 s.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);
use VhostFcgi::Load ();

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 5;

my $res = raw_request('vf_busy', 'GET', '/reuse/sleep.php?ms=50');
is($res->{status}, 200, 'the busy pool answers');

my $r = VhostFcgi::Load::run(vhost => 'vf_busy', path => '/reuse/sleep.php?ms=50',
                             clients => 50, requests => 200, keepalive => 1,
                             deadline => 60, timeout => 60);
diag('50 keep-alive clients, 4 workers: ' . VhostFcgi::Load::summary($r));
is($r->{done}, 200, 'every one of 200 requests got an answer');
is($r->{ok}, 200, 'all of them 200') or diag(join "\n", @{ $r->{errors} });
ok(!$r->{timed_out} && $r->{elapsed} < 60, sprintf 'all done within 60 s (%.1f s)', $r->{elapsed});

$res = raw_request('vf_unix', 'GET', '/php/hello.php');
is($res->{status}, 200, 'other sites served afterwards');
