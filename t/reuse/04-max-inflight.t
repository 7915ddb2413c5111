# VhostFcgiMaxInFlight 2 queue=2 wait=1 on a site whose script sleeps 10 s
# (vhost vf_slow, php-fpm pool "slow"): with 4 requests in flight or
# queued, the 5th gets 503 with Retry-After at once (well under 1 s); the 2
# queued ones get 503 after about 1 s; the 2 in flight complete (200); and
# meanwhile a request to another vhost of the same httpd is served as usual.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use Time::HiRes qw(time sleep);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 12;

my $path = '/reuse/sleep.php?ms=10000';
sub send_req {
    my $sock = raw_connect('vf_slow');
    syswrite $sock, "GET $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    return { sock => $sock, sent => time };
}

# Four at once: two reach the backend, two wait.
my @held = map { send_req() } 1 .. 4;
sleep 0.3;

# The 5th.
my $t5 = time;
my $fifth = raw_request('vf_slow', 'GET', $path, timeout => 15);
my $e5 = time - $t5;
is($fifth->{status}, 503, '5th concurrent request: 503');
ok(defined $fifth->{header}{'retry-after'} && $fifth->{header}{'retry-after'} =~ /^\d+$/,
   '5th: with Retry-After (' . ($fifth->{header}{'retry-after'} // 'none') . ')');
cmp_ok($e5, '<', 0.5, sprintf '5th: answered at once (%.3f s)', $e5);

# Another vhost, meanwhile.
my $t6 = time;
my $other = raw_request('vf_unix', 'GET', '/php/hello.php', timeout => 15);
is($other->{status}, 200, 'meanwhile, another vhost: 200');
cmp_ok(time - $t6, '<', 2, sprintf 'another vhost: served without waiting (%.3f s)', time - $t6);

# Read the four: the queued ones answer 503 after ~wait=1 s, the admitted
# ones 200 after ~10 s.
read_held(\@held);
my @answers = sort { $a->{elapsed} <=> $b->{elapsed} } grep { $_->{res} } @held;
diag(sprintf 'the 4 held requests: %s; the 5th: %d in %.3f s; other vhost: %d',
     join(', ', map { sprintf '%s after %.2f s', $_->{res}{status} // '?', $_->{elapsed} } @answers),
     $fifth->{status}, $e5, $other->{status});
is(scalar @answers, 4, 'all 4 held requests were answered within 30 s');
my @s503 = grep { ($_->{res}{status} // 0) == 503 } @answers;
my @s200 = grep { ($_->{res}{status} // 0) == 200 } @answers;
is(scalar @s503, 2, 'the 2 queued requests: 503');
ok(!grep({ !defined $_->{res}{header}{'retry-after'} } @s503), 'queued 503s carry Retry-After');
ok(@s503 && !grep({ $_->{elapsed} < 0.7 || $_->{elapsed} > 3 } @s503),
   'queued requests gave up after about wait=1 s');
is(scalar @s200, 2, 'the 2 admitted requests: 200');
like($s200[0]{res}{body} // '', qr/^slept 10000 ms/, 'admitted: the script ran to the end');
ok(@s200 && !grep({ $_->{elapsed} < 9 } @s200), 'admitted requests took the 10 s');
