#!/usr/bin/perl
# ProxySet failontimeout=on: a member that does not answer within its
# timeout= is put in error, as with mod_proxy_http.
#
# Regression: the drop-in answered 504 without mod_proxy's
# "proxy_timedout" note, which is what mod_proxy_balancer looks for, so
# failontimeout=on did nothing: a member that timed out stayed in the
# rotation and the next requests waited out its timeout too.
#
# Here: member 1's slow.php sleeps 3 s, the others' none; timeout=1.  One
# request to each member (byrequests): member 1's gets 504, the log says
# AH02460 "Forcing worker ... into error state", and the status page shows
# member 1 in error, the others ok; the next requests are all answered
# 200 by members 2 and 3.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use HTTP::Tiny;
use VfBal;

my $bed = VfBal->new(
    member_params  => 'timeout=1 connectiontimeout=1 retry=60',
    health         => undef,
    balancer_extra => ['ProxySet failontimeout=on'],
);
if (my $why = $bed->netns_unavailable) {
    plan skip_all => $why;
}
eval { $bed->start; 1 } or BAIL_OUT("test bed did not come up: $@");

my $ua = HTTP::Tiny->new(timeout => 10, keep_alive => 0);
my $elog = $bed->error_log_size;
my %status;
for (1 .. 3) {
    my $res = $ua->get($bed->url('/slow.php?m1=3000&ms=0'));
    my ($m) = ($res->{content} // '') =~ /^member=(\d)/m;
    $status{$m // 'timed out'} = $res->{status};
}
is($status{'timed out'} // 0, 504, "member 1's request (3 s against "
                                   . 'timeout=1): 504');
is(join(' ', map { $status{$_} // '-' } 2, 3), '200 200',
   'members 2 and 3: 200');
like(VfBal::slurp($bed->error_log, $elog),
     qr/AH02460: balancer:\/\/php: Forcing worker \(fcgi:\/\/10\.251\.1\.2:9000\) into error state due to timeout/,
     "mod_proxy_balancer forces member 1 into error (failontimeout)");
my $st = $bed->backends('main') || {};
is(join(' ', map { $st->{$_}{state} // '?' } 1 .. 3), 'error ok ok',
   'the status page: member 1 in error, the others ok')
    or diag($bed->status_text('main'));

my (%by, @bad);
for (1 .. 6) {
    my $res = $ua->get($bed->url('/slow.php?m1=3000&ms=0'));
    push @bad, $res->{status} if $res->{status} != 200;
    $by{$1}++ if ($res->{content} // '') =~ /^member=(\d)/m;
}
is("@bad", '', 'the next six requests: all 200');
is(join(',', sort keys %by), '2,3', '... from members 2 and 3 only')
    or diag(explain \%by);

done_testing;
