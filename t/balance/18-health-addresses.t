#!/usr/bin/perl
# A member given by a host name that resolves to several addresses passes
# its checks at whichever of them answers, tried in turn as mod_proxy does
# for requests: a name whose first address has nothing listening (Debian's
# "localhost" may be ::1 first, php-fpm on 127.0.0.1) is no reason to take
# the member out.  And a check that fails after its connect got through
# (here: no answer from a SIGSTOPped backend) forgets the address found,
# like any failed check: the next one resolves the name again, and the
# member is back where the name points now.
#
# Regressions: only the first address was tried, so such a member failed
# every check; the address was kept once a connect got through, whatever
# came after, so a member whose name moved stayed out for good while its
# old address accepted connections.
#
# httpd runs in a mount namespace of its own whose /etc/hosts is a file of
# the test's (as in 17); the backends are t/bin/fcgi-misbehave on TCP, on
# loopback addresses 127.0.0.1 to 127.0.0.4.  No network namespaces, no
# php-fpm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VfBal;

if (my $why = VfBal::private_hosts_unavailable()) { plan skip_all => $why }

my $hosts = VfBal::private_hosts();
my $two_lines = "127.0.0.2 vf-hc-two\n127.0.0.3 vf-hc-two\n";
sub hosts { VfBal::set_hosts($hosts, $two_lines . $_[0]) }

# Which of vf-hc-two's addresses comes first is getaddrinfo's choice (RFC
# 6724 sorting, gai.conf): nothing listens there, the backend at the other.
hosts('');
my @order = VfBal::resolve_with($hosts, 'vf-hc-two');
is(scalar @order, 2, 'vf-hc-two resolves to two addresses')
    or diag("getent ahosts vf-hc-two: @order");
my ($dead, $live) = @order;
$live //= '127.0.0.3';
hosts("127.0.0.1 vf-hc-moved\n");

my $bed = VfBal->new;
my $port_two = VfBal::free_port();
my $port_moved = VfBal::free_port();
my $two = "fcgi://vf-hc-two:$port_two";
my $moved = "fcgi://vf-hc-moved:$port_moved";
my $old_addr = "127.0.0.1:$port_moved";
my $new_addr = "127.0.0.4:$port_moved";
$bed->start_misbehave("$live:$port_two");
$bed->start_misbehave($old_addr);
$bed->start_httpd_with(
      "<Proxy balancer://php>\n"
    . "    BalancerMember \"$two\" timeout=3 retry=30\n"
    . "</Proxy>\n"
    . "<Proxy balancer://moved>\n"
    . "    BalancerMember \"$moved\" timeout=3 retry=30\n"
    . "</Proxy>\n"
    . "VhostFcgiHealthCheck balancer://php path=/echo interval=0.3 "
    . "timeout=0.25 fails=1 passes=1\n"
    . "VhostFcgiHealthCheck balancer://moved path=/echo interval=0.3 "
    . "timeout=0.25 fails=1 passes=1\n");

sub member {
    my ($balancer) = @_;
    my $st = $bed->status('main') or return undef;
    my ($m) = grep { ($_->{balancer} // '') eq $balancer }
              @{$st->{backends} || []};
    return $m;
}

# The member once it has had $n checks and its health is $health (or the
# last seen after 10 s).
sub checks_after {
    my ($balancer, $n, $health) = @_;
    my $m;
    wait_for(sub {
        $m = member($balancer) or return 0;
        ($m->{checks} // 0) >= $n && $m->{health} eq $health;
    }, 10, 0.1);
    return $m;
}

# (a) Two addresses, the first refuses.
my $m = checks_after('balancer://php', 3, 'ok');
ok($m && $m->{health} eq 'ok' && $m->{checks} >= 3,
   "a name whose first address ($dead) refuses: the member passes its "
   . "checks at the second ($live)") or diag(explain $m);

# (b) The member passes at 127.0.0.1; its name moves to 127.0.0.4, where
# another backend listens.  Checks go on at the address found...
$m = checks_after('balancer://moved', 2, 'ok');
ok($m && $m->{health} eq 'ok', 'vf-hc-moved passes its checks at 127.0.0.1')
    or diag(explain $m);
$bed->start_misbehave($new_addr);
hosts("127.0.0.4 vf-hc-moved\n");
my $elog = $bed->error_log_size;

# ... until one fails after its connect: the old backend SIGSTOPped (its
# listen queue still accepts, no answer comes).  Then the next check
# resolves the name: back within a few checks.
my $old_pid = $bed->misbehave_pid($old_addr)
    or die "no pid for fcgi-misbehave on $old_addr\n";
kill 'STOP', $old_pid;
ok($bed->wait_log($elog, qr/AH10710: .*\Q$moved\E taken out after 1 failed checks: no answer within/, 10),
   'the old backend stopped: taken out (connected, no answer)')
    or diag($bed->error_log_tail);
ok($bed->wait_log($elog, qr/AH10711: .*\Q$moved\E back/, 5),
   'the name is resolved again: the member is back, at 127.0.0.4')
    or diag($bed->error_log_tail);
kill 'CONT', $old_pid;

# The address now found is the one kept: with the name gone from the
# resolver and the old backend gone, the checks go on passing.
$elog = $bed->error_log_size;
hosts('');
$bed->stop_misbehave($old_addr);
$m = member('balancer://moved');
my $base = $m ? $m->{checks} : 0;
$m = checks_after('balancer://moved', $base + 3, 'ok');
ok($m && $m->{health} eq 'ok' && $m->{checks} >= $base + 3,
   'the old backend and the name gone: three more checks passed')
    or diag(explain $m);
unlike(VfBal::slurp($bed->error_log, $elog), qr/AH10710: .*\Q$moved\E/,
       '... and it was not taken out again') or diag($bed->error_log_tail);

$bed->stop_httpd;
done_testing;
