# A pool's backend that answers FCGI_OVERLOADED (fcgi-misbehave's
# "overloaded" scenario, through the URL pool of vhost vf_reuse_wait):
# the client gets 503 with Retry-After, at once, and the error log names
# the backend (AH10644); the pool serves the next request normally.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan skip_all => 'fcgi-misbehave not built (make tools)'
    unless misbehave_available() && $ENV{VF_MB_SOCK};
plan tests => 6;

# (The first request of a test process waits for Apache::Test's own
# start-up, about a second: not what is measured below.)
my $res = raw_request('vf_reuse_wait', 'GET', '/mbh/hello.php', timeout => 20);
is($res->{status}, 200, 'the pool serves');

my $mark = log_mark();
my $t0 = time;
$res = raw_request('vf_reuse_wait', 'GET', '/mbh/overloaded.php', timeout => 20);
my $took = time - $t0;
is($res->{status}, 503, 'FCGI_OVERLOADED: 503');
like($res->{header}{'retry-after'} // '', qr/^\d+$/, '... with Retry-After');
cmp_ok($took, '<', 1, sprintf('... at once (%.2f s)', $took));
like(log_wait_for($mark, qr/AH10644/, 3) // '',
     qr/AH10644: FastCGI backend unix:\S+misbehave\.sock \(vhost \S+\) is overloaded \(FCGI_OVERLOADED\)/,
     '... and the error log names the backend');
$res = raw_request('vf_reuse_wait', 'GET', '/mbh/hello.php', timeout => 20);
is($res->{status}, 200, 'the next request is served again');
