#!/usr/bin/perl
# A health check of a member given by host name asks the resolver only
# until a check gets through: later checks connect to the address found,
# so a resolver that stops answering (or answers slowly: its timeouts are
# not the check's) neither takes a healthy member out nor holds up the
# round.  After a failed check the name is resolved again, since it may
# point elsewhere now.
#
# Regression: every check resolved the name first, outside the check's
# deadline; with the name gone from the resolver, a member that answers
# was taken out ("cannot resolve").
#
# Here httpd runs in a mount namespace of its own whose /etc/hosts is a
# file of the test's: "vf-hc-member" is 127.0.0.1, where a
# t/bin/fcgi-misbehave listens on TCP; then the name goes from the file.
# No network namespaces, no php-fpm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VfBal;

if (my $why = VfBal::private_hosts_unavailable()) { plan skip_all => $why }

my $hosts = VfBal::private_hosts();
sub hosts { VfBal::set_hosts($hosts, $_[0]) }
hosts("127.0.0.1 vf-hc-member\n");

my $bed = VfBal->new;
my $port = VfBal::free_port();
my $addr = "127.0.0.1:$port";
$bed->start_misbehave($addr);
my $member = "fcgi://vf-hc-member:$port";
$bed->start_httpd_with(
      "<Proxy balancer://php>\n"
    . "    BalancerMember \"$member\" timeout=3 retry=30\n"
    . "</Proxy>\n"
    . "VhostFcgiHealthCheck balancer://php path=/echo interval=0.3 "
    . "timeout=0.25 fails=1 passes=1\n");

sub member {
    my $st = $bed->status('main') or return undef;
    my ($m) = grep { ($_->{balancer} // '') eq 'balancer://php' }
              @{$st->{backends} || []};
    return $m;
}

sub checks_after {
    my ($n, $health) = @_;
    my $m;
    wait_for(sub {
        $m = member() or return 0;
        ($m->{checks} // 0) >= $n && $m->{health} eq $health;
    }, 10, 0.1);
    return $m;
}

my $m = checks_after(2, 'ok');
ok($m && $m->{health} eq 'ok', 'the member, by name, passes its checks')
    or diag(explain $m);
my $elog = $bed->error_log_size;

# The name gone: checks go on to the address found.
hosts('');
my $base = $m ? $m->{checks} : 0;
$m = checks_after($base + 5, 'ok');
ok($m && $m->{checks} >= $base + 5 && $m->{health} eq 'ok',
   'the name gone from the resolver: five more checks, all passed')
    or diag(explain $m);
unlike(VfBal::slurp($bed->error_log, $elog), qr/AH10710/,
       '... and the member was never taken out') or diag($bed->error_log_tail);

# A failed check forgets the address: with the name still gone, the
# member stays out though the backend is back.
$bed->stop_misbehave($addr);
ok($bed->wait_log($elog, qr/AH10710: .*\Q$member\E taken out after 1 failed checks: connect/, 10),
   'the backend stopped: taken out (connect)') or diag($bed->error_log_tail);
$elog = $bed->error_log_size;
$bed->start_misbehave($addr);
sleep 1.5;
$m = member();
ok($m && $m->{health} ne 'ok',
   'the backend back, the name still gone: it stays out (the name is '
   . 'resolved again)') or diag(explain $m);
unlike(VfBal::slurp($bed->error_log, $elog), qr/AH10711/, '... not put back');

hosts("127.0.0.1 vf-hc-member\n");
ok($bed->wait_log($elog, qr/AH10711: .*\Q$member\E back/, 10),
   'the name back: the member is back') or diag($bed->error_log_tail);

$bed->stop_httpd;
done_testing;
