#!/usr/bin/perl
# lbmethod=byrequests across 3 php-fpm members in their own network
# namespaces: 3,000 requests (8 concurrent clients) are all answered, and
# each member answers within +-10% of an even share (1,000).  The status
# page's "elected" counters agree with what the clients saw.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use VfBal;

my $bed = VfBal->new(lbmethod => 'byrequests');
if (my $why = $bed->netns_unavailable) {
    plan skip_all => $why;
}
eval { $bed->start; 1 } or BAIL_OUT("test bed did not come up: $@");

my $before = $bed->observe;
my $t = time;
my $load = $bed->load(clients => 8, total => 3000, urls => ['/who.php'],
                      deadline => 90);
my @res = $load->finish;
my $secs = time - $t;
my $after = $bed->observe;

is(scalar @res, 3000, '3000 requests sent');
my @bad = grep { $_->{status} != 200 || !$_->{member} } @res;
is(scalar @bad, 0, 'all answered 200 by a member')
    or diag(join ', ', map { "$_->{id}:$_->{status}" } @bad[0 .. 9]);

my %per;
$per{$_->{member} // '-'}++ for @res;
diag(sprintf "byrequests, 3000 requests in %.1f s: member 1: %d, "
     . "member 2: %d, member 3: %d", $secs, map { $per{$_} // 0 } 1 .. 3);
for my $n (1 .. 3) {
    my $got = $per{$n} // 0;
    ok($got >= 900 && $got <= 1100, "member $n: $got of 3000 (900..1100)");
}

# The status page counts the same elections (mod_proxy_balancer's own
# counter in shared memory; it increments it under a per-process lock, so
# with two httpd children an increment may be lost now and then: 1% slack).
for my $n (1 .. 3) {
    my $d = $after->{$n}{elected} - $before->{$n}{elected};
    my $want = $per{$n} // 0;
    ok(abs($d - $want) <= 10, "status page: member $n elected $d times "
       . "(clients saw $want)");
    is($after->{$n}{state}, 'ok', "status page: member $n ok");
}

done_testing;
