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
plan tests => 7 + 5 + 1;

sub stats {
    my $vhost = shift;
    my ($res, $s) = get_env($vhost, '/mbh/stats.php');
    return $res->{status} == 200 ? $s : undef;
}
sub delta {
    my ($s0, $s1) = @_;
    return map { $s1->{$_} - $s0->{$_} } qw(accepted completed);
}

# --- a backend that keeps connections --------------------------------------
# One request at a time, then 10 concurrent clients (more than the pool's 4
# connections); a new client connection per request, so both httpd
# children serve them.  "Far fewer": an order of magnitude at least.
my $before = stats('vf_reuse_mb');
ok($before && defined $before->{accepted}, 'fcgi-misbehave stats answer through the pool')
    or BAIL_OUT('no stats from fcgi-misbehave');
my $seq_ok = 0;
for (1 .. 100) {
    my $res = raw_request('vf_reuse_mb', 'GET', '/mbh/hello.php');
    $seq_ok++ if $res->{status} == 200;
}
is($seq_ok, 100, '100 sequential requests (a new client connection each): all 200');
my $mid = stats('vf_reuse_mb');
my ($acc, $done) = delta($before, $mid);
diag(sprintf 'fcgi-misbehave, one request at a time: %d connections accepted for %d requests'
             . ' completed (%.1f requests per connection)', $acc, $done, $acc ? $done / $acc : $done);
SKIP: {
    skip PER_PROCESS_WHY, 1 if per_process_mpm();
    # (0 accepted is fine: a test before this one may have left the kept
    # connection; the counter's own check is below.)
    ok($done >= 100 && $acc * 25 <= $done,
       'one at a time: at least 25 requests per accepted connection');
}

# (A new client connection per request: both httpd children serve them.)
my $r = VhostFcgi::Load::run(vhost => 'vf_reuse_mb', path => '/mbh/hello.php',
                             clients => 10, requests => 400, keepalive => 0, deadline => 60);
is($r->{ok}, 400, '10 concurrent clients, 400 requests: all 200')
    or diag(VhostFcgi::Load::summary($r) . "\n" . join "\n", @{ $r->{errors} });
my $after = stats('vf_reuse_mb');
($acc, $done) = delta($mid, $after);
diag(sprintf 'fcgi-misbehave, 10 concurrent clients: %d connections accepted for %d requests'
             . ' completed (%.1f requests per connection)', $acc, $done, $acc ? $done / $acc : $done);
cmp_ok($done, '>=', 400, 'the backend completed every request');
cmp_ok($acc, '>=', 1, 'the backend accepted connections (the counter works)');
SKIP: {
    skip PER_PROCESS_WHY, 1 if per_process_mpm();
    cmp_ok($acc * 10, '<=', $done, '10 concurrent clients: at least 10 requests per accepted connection');
}

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
SKIP: {
    skip PER_PROCESS_WHY, 1 if per_process_mpm();
    cmp_ok($done - $acc, '>=', $done / 10,
           'kept connections were reused (so some met a backend that had closed them)');
}

# The error log tells a prefork admin why reuse is rare there, and nobody
# else (the notice is logged at each start).
if (per_process_mpm()) {
    like(log_since(0), qr/AH10727: .*one request per process/,
         'mpm_prefork: the error log says kept connections are per process');
}
else {
    unlike(log_since(0), qr/AH10727/, 'a threaded MPM: no per-process notice');
}
