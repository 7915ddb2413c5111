# Reuse really happens: fcgi-misbehave, as a URL pool (VhostFcgiPool
# unix:... max=4, vhost vf_reuse_mb), counts the connections it accepts and
# the requests it completes ("stats" scenario, t/htdocs/mbh/stats.php):
# the pool answers hundreds of requests over a handful of connections.
# And a backend that closes every connection after 3 requests (-c 3, as
# php-fpm's pm.max_requests does; vhost vf_reuse_mbclose) costs no request
# an error: kept connections it closed are replaced unseen.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);
use VhostFcgi::Load ();

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan skip_all => 'fcgi-misbehave not built (make tools)'
    unless misbehave_available() && $ENV{VF_MB_REUSE_SOCK} && $ENV{VF_MB_CLOSE_SOCK};
plan tests => 2 + 5 + 5;

sub stats {
    my $vhost = shift;
    my ($res, $s) = get_env($vhost, '/mbh/stats.php');
    return $res->{status} == 200 ? $s : undef;
}
sub delta {
    my ($a, $b) = @_;
    return map { $b->{$_} - $a->{$_} } qw(accepted completed);
}

# --- a backend that keeps connections --------------------------------------
my $before = stats('vf_reuse_mb');
ok($before && defined $before->{accepted}, 'fcgi-misbehave stats answer through the pool')
    or BAIL_OUT('no stats from fcgi-misbehave');
my $seq_ok = 0;
for (1 .. 100) {   # one client connection each: httpd reuses the backend's
    my $res = raw_request('vf_reuse_mb', 'GET', '/mbh/hello.php');
    $seq_ok++ if $res->{status} == 200;
}
is($seq_ok, 100, '100 sequential requests (a new client connection each): all 200');
my $r = VhostFcgi::Load::run(vhost => 'vf_reuse_mb', path => '/mbh/hello.php',
                             clients => 10, requests => 400, deadline => 60);
is($r->{ok}, 400, '10 concurrent keep-alive clients, 400 requests: all 200')
    or diag(VhostFcgi::Load::summary($r) . "\n" . join "\n", @{ $r->{errors} });
my $after = stats('vf_reuse_mb');
my ($acc, $done) = delta($before, $after);
diag(sprintf 'fcgi-misbehave (keeps connections): %d connections accepted for %d requests completed'
             . ' (%.1f requests per connection)', $acc, $done, $acc ? $done / $acc : $done);
cmp_ok($done, '>=', 500, 'the backend completed every request');
cmp_ok($acc, '>=', 1, 'the backend accepted connections (the counter works)');
cmp_ok($acc * 20, '<=', $done, 'at least 20 requests per accepted connection');
cmp_ok($acc, '<=', 16, 'no more than a few connections for 500 requests (max=4, two httpd children)');

# --- a backend that closes each connection after 3 requests -----------------
$before = stats('vf_reuse_mbclose');
ok($before && defined $before->{accepted}, 'fcgi-misbehave -c 3 stats answer');
$r = VhostFcgi::Load::run(vhost => 'vf_reuse_mbclose', path => '/mbh/hello.php',
                          clients => 10, requests => 300, deadline => 60);
is($r->{failed}, 0, 'backend closing every connection after 3 requests: 300 requests, zero non-200')
    or diag(VhostFcgi::Load::summary($r) . "\n" . join "\n", @{ $r->{errors} });
$after = stats('vf_reuse_mbclose');
($acc, $done) = delta($before, $after);
diag(sprintf 'fcgi-misbehave -c 3: %d connections accepted for %d requests completed', $acc, $done);
cmp_ok($done, '>=', 300, 'the backend completed every request');
cmp_ok($acc * 3, '>=', $done - 3, 'it really closed each connection after 3 requests');
cmp_ok($acc * 2, '<=', $done, 'and connections were still reused up to that');
