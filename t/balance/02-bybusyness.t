#!/usr/bin/perl
# lbmethod=bybusyness sends new work away from a member whose requests are
# slow: member 1's slow.php takes 800 ms, the others' 10 ms; 8 concurrent
# clients each alternate slow.php and who.php (instant everywhere) for 8 s
# and at least 400 requests (at most 30 s and 5,000 requests).  byrequests
# would give member 1 a third of the requests; bybusyness keeps the
# members' in-flight counts level, so member 1 gets only a few percent.
#
# The load is stopped for all clients at once: a lone client at the end
# would find every member idle, and on such ties bybusyness falls back to
# byrequests' credit, which member 1 has piled up by being skipped - it
# would then get every request for a while (mod_proxy's behaviour).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VfBal;

my $bed = VfBal->new(lbmethod => 'bybusyness');
if (my $why = $bed->netns_unavailable) {
    plan skip_all => $why;
}
eval { $bed->start; 1 } or BAIL_OUT("test bed did not come up: $@");

my $t = time;
my $load = $bed->load(clients => 8, total => 5000, deadline => 30,
                      urls => ['/slow.php?m1=800&ms=10', '/who.php']);
# 8 s, and at least 400 requests (a busy machine is slower), 30 s at most.
wait_for(sub { time - $t >= 8 && $load->results >= 400 }, 30, 0.2);
my @res = $load->finish(stop => 1);
my $secs = time - $t;
my $n = @res;

cmp_ok($n, '>=', 400, "$n requests sent");
my @bad = grep { $_->{status} != 200 || !$_->{member} } @res;
is(scalar @bad, 0, 'all answered 200 by a member');

my %per;
$per{$_->{member} // '-'}++ for @res;
my ($m1, $m2, $m3) = map { $per{$_} // 0 } 1 .. 3;
diag(sprintf "bybusyness, %d requests in %.1f s: member 1 (slow): %d, "
     . "member 2: %d, member 3: %d", $n, $secs, $m1, $m2, $m3);
ok($m2 > 0 && $m3 > 0, 'the fast members share the work');
cmp_ok($m1, '<', 0.25 * ($m2 < $m3 ? $m2 : $m3),
       'member 1 (slow) gets under a quarter of either fast member');
cmp_ok($m1, '<', 0.15 * $n, 'member 1 gets under 15% (even: 33%)');

done_testing;
