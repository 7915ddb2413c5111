#!/usr/bin/perl
# A health check whose answer has a malformed header block fails, as a
# request given that answer gets 502.
#
# Regression: the check looked only for a Status line in the block, so an
# answer with a header line without a colon, or an obsolete folded line,
# counted as healthy while every request to that member got 502.
#
# Here: one t/bin/fcgi-misbehave, a member of three balancers, each with
# its own check path (the scenario is the path's last segment):
#   echo      a well-formed answer: the member stays in (the control);
#   nocolon   path=/no-colon: "malformed header block", taken out;
#   obsfold   path=/obs-fold: the same.
# No namespaces, no php-fpm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VfBal;

plan skip_all => 'needs root (httpd with User www-data)' if $> != 0;
plan skip_all => 'build/bin/fcgi-misbehave missing: run make first'
    unless -x repo_dir() . '/build/bin/fcgi-misbehave';

my $bed = VfBal->new;
my $sock = $bed->dir . '/mb.sock';
$bed->start_misbehave($sock);

my %path = (echo => '/echo', nocolon => '/no-colon', obsfold => '/obs-fold');
my $bal = '';
for my $b (sort keys %path) {
    $bal .= "<Proxy balancer://$b>\n"
          . "    BalancerMember \"unix:$sock|fcgi://$b\" timeout=3 retry=30\n"
          . "</Proxy>\n"
          . "VhostFcgiHealthCheck balancer://$b path=$path{$b} interval=0.5 "
          . "timeout=0.4 fails=1 passes=1\n";
}
# (The vhost's pool: any balancer defined.)
$bal .= "<Proxy balancer://php>\n"
      . "    BalancerMember \"unix:$sock|fcgi://php\"\n</Proxy>\n";
$bed->start_httpd_with($bal);

sub taken_out {
    my ($b, $why) = @_;
    my $text = "AH10710: VhostFcgiHealthCheck: balancer://$b member "
               . "unix:$sock|fcgi://$b taken out after 1 failed checks: $why";
    return qr/\Q$text\E/;
}

for my $b (qw(nocolon obsfold)) {
    ok($bed->wait_log(0, taken_out($b, 'malformed header block: '), 10),
       "balancer://$b (path=$path{$b}): taken out, its answer's header "
       . 'block malformed') or diag($bed->error_log_tail);
}
# The control, checked as often, stays in.
my $echo;
wait_for(sub {
    my $st = $bed->status('main') or return 0;
    ($echo) = grep { ($_->{balancer} // '') eq 'balancer://echo' }
              @{$st->{backends} || []};
    return $echo && ($echo->{checks} // 0) >= 2;
}, 10, 0.1);
ok($echo && $echo->{checks} >= 2 && $echo->{health} eq 'ok'
   && $echo->{state} eq 'ok', 'balancer://echo (a well-formed answer): '
   . 'checked and in') or diag(explain $echo);
unlike(VfBal::slurp($bed->error_log), qr/balancer:\/\/echo member/,
       '... and never taken out');

$bed->stop_httpd;
done_testing;
