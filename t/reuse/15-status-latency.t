# The status page's latency percentiles (p50_ms, p99_ms) after a known mix
# of requests to a pool no other test uses (vhost vf_latency: php-fpm pool
# www-tcp as a URL pool).  The page gives the upper bound (ms) of the
# histogram bucket a percentile falls in (VF_LATENCY_BOUNDS: ..., 200, 500,
# 1000, 2000, 5000, ...).
#
#   no request yet          p50 = p99 = 0
#   99 fast                 both in a fast bucket (< SLOW_MS)
#   + 1 slow (1 in 100)     p99 stays fast: a percentile, not the maximum
#   + 3 slow (4 in 103)     p99 >= SLOW_MS (its bucket), p50 still fast
#
# "Fast" is a php-fpm hello.php (a few ms), so every bound below is far
# above its normal latency: only a request slower than 1 s would upset it.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason pool_status);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 17;

use constant SLOW_MS => 1500;
use constant FAST_MAX_MS => 1000;     # a bucket bound below SLOW_MS
my $vhost = 'vf_latency';
my $name = "fcgi://127.0.0.1:$ENV{VF_FPM_PORT}";

sub fast {
    my $n = shift;
    my $ok = 0;
    for (1 .. $n) {
        $ok++ if raw_request($vhost, 'GET', '/reuse/hello.php', timeout => 30)
                     ->{status} == 200;
    }
    return $ok;
}

# $n slow requests at once (the pool has 4 connections, php-fpm 4 workers).
sub slow {
    my $n = shift;
    my @socks = map {
        my $sock = raw_connect($vhost);
        syswrite $sock, "GET /reuse/sleep.php?ms=${\ SLOW_MS} HTTP/1.1\r\n"
                      . "Host: localhost\r\nConnection: close\r\n\r\n";
        $sock;
    } 1 .. $n;
    my $ok = 0;
    for my $sock (@socks) {
        $ok++ if read_response($sock, timeout => 30)->{status} == 200;
        close $sock;
    }
    return $ok;
}

sub figures {
    my $s = shift or return 'no status row';
    return join ' ', map { "$_=" . ($s->{$_} // '?') } qw(requests p50_ms p99_ms);
}

my $s = pool_status($name);
ok($s && defined $s->{p50_ms} && defined $s->{p99_ms},
   "the pool's row has p50_ms and p99_ms") or BAIL_OUT('no status row for ' . $name);
is_deeply([@$s{qw(requests p50_ms p99_ms)}], [0, 0, 0],
          'no request yet: 0 requests, p50 = p99 = 0');
# Each vhost naming a URL has a pool of its own: the row says where.
like($s->{where} // '', qr/\.conf:\d+$/,
     "the row says where the pool is named ($s->{where})");

is(fast(99), 99, '99 fast requests: all 200');
$s = pool_status($name);
is($s->{requests}, 99, 'requests = 99') or diag figures($s);
ok($s->{p50_ms} >= 1 && $s->{p50_ms} <= FAST_MAX_MS,
   'all fast: p50 in a fast bucket (' . figures($s) . ')');
ok($s->{p99_ms} >= $s->{p50_ms} && $s->{p99_ms} <= FAST_MAX_MS,
   'all fast: p99 in a fast bucket, not below p50');

is(slow(1), 1, 'one slow request: 200');
$s = pool_status($name);
is($s->{requests}, 100, 'requests = 100') or diag figures($s);
ok($s->{p99_ms} <= FAST_MAX_MS,
   '1 slow in 100: p99 is still a fast bucket (' . figures($s) . ')');

is(slow(3), 3, 'three more slow requests at once: 200');
$s = pool_status($name);
is($s->{requests}, 103, 'requests = 103') or diag figures($s);
cmp_ok($s->{p99_ms}, '>=', SLOW_MS,
       '4 slow in 103: p99 at least the slow requests\' ' . SLOW_MS . ' ms');
cmp_ok($s->{p99_ms}, '<=', 5000, '... in a bucket near it (' . figures($s) . ')');
ok($s->{p50_ms} >= 1 && $s->{p50_ms} <= FAST_MAX_MS,
   'p50 is still a fast bucket, below the sleep');

# The HTML page shows the same figures ("&le;N" in the last two cells).
my $html = raw_request('vf_reuse_fpm', 'GET', '/vf-status')->{body} // '';
my ($row) = $html =~ m{(<tr><td>\Q$name\E<br><small>\Q$s->{where}\E</small></td>.*?</tr>)};
ok($row, 'the HTML page has a row for the pool, with where it is named');
my @le = ($row // '') =~ m{<td>&le;(\d+)</td><td>&le;(\d+)</td></tr>};
is_deeply(\@le, [$s->{p50_ms}, $s->{p99_ms}], 'HTML: p50 and p99 as in the JSON');
