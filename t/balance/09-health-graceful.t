#!/usr/bin/perl
# A member the health checks took out stays out across a graceful restart
# (apachectl graceful, as logrotate runs daily).  mod_proxy starts every
# member of the new generation afresh; the checks' results are kept, and
# the member stays out of the rotation until checks pass.  Before, it
# came straight back: the requests the balancer sent it failed until
# fails= new checks had failed (every other request, for about 2 s here).
#
# Member 3 is killed (php-fpm SIGKILLed: connection refused), the checks
# take it out; httpd restarts gracefully; right away 12 requests must all
# be answered 200 by members 1 and 2, and the status page must show member
# 3 health-check-failed.  Once php-fpm runs again, it comes back.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VfBal;

my $bed = VfBal->new(
    lbmethod      => 'byrequests',
    member_params => 'timeout=3 connectiontimeout=1 retry=30',
    health        => 'interval=1 timeout=0.5 fails=2 passes=2',
);
if (my $why = $bed->netns_unavailable) {
    plan skip_all => $why;
}
eval { $bed->start; 1 } or BAIL_OUT("test bed did not come up: $@");

sub state3 {
    my $by = $bed->backends('main') or return '';
    return $by->{3} ? $by->{3}{state} : '';
}

$bed->kill_member(3);
ok(VfBal::wait_for(sub { state3() =~ /health-check-failed/ }, 10),
   'member 3 killed: the checks take it out') or diag($bed->status_text('main'));

my $from = $bed->error_log_size;
my ($rc, $out) = VfBal::run_cmd(VfBal::httpd_bin(), '-f', $bed->{conf}, '-k', 'graceful');
is($rc, 0, 'apache2 -k graceful') or diag($out);
ok(VfBal::wait_for(sub { VfBal::slurp($bed->error_log, $from) =~ /resuming normal operations/ }, 10),
   'the new generation is up');
VfBal::wait_for(sub { $bed->status('main') }, 10);

my (%by, @bad);
for my $i (1 .. 12) {
    my ($rc2, $body) = VfBal::run_cmd('curl', '-s', '-w', '\n%{http_code}', $bed->url('/who.php'));
    my ($code) = $body =~ /(\d+)\s*\z/;
    my ($m) = $body =~ /^member=(\d)/m;
    push @bad, "$i: $code" if ($code // 0) != 200;
    $by{$m // '-'}++;
}
is("@bad", '', 'right after the restart: every request answered 200');
ok(!$by{3} && ($by{1} // 0) + ($by{2} // 0) == 12, 'all by members 1 and 2')
    or diag(explain \%by);
like(state3(), qr/health-check-failed/,
     'the status page still shows member 3 taken out by the checks')
    or diag($bed->status_text('main'));

$bed->start_member(3);
ok(VfBal::wait_for(sub { state3() eq 'ok' }, 10), 'php-fpm back: member 3 comes back')
    or diag($bed->status_text('main'));
done_testing;
