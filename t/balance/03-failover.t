#!/usr/bin/perl
# Failover and health checks under a steady load on 3 members (8
# concurrent clients on who.php?ms=10, some 250-450 requests a second on
# this 2-core box, for the length of each case, 6-9 s).  One member at a
# time is
#   (a) killed: php-fpm master and children SIGKILLed -> connection refused
#   (b) SIGSTOPped (master and children): wedged, the kernel still accepts
#   (c) cut off: its veth link down inside its namespace -> timeouts
# kept so for at least 4 s (longer than the member timeout) and 1 s after
# the health check took it out, then repaired (php-fpm restarted /
# SIGCONT / link up).
#
# Members: timeout=3 connectiontimeout=1 retry=30 (so a member in error
# comes back through the health check, not retry=).  Health check:
# interval=1 timeout=0.5 fails=2 passes=2.
#
# In each case:
# - every request is answered 200, except requests that had been sent to
#   the faulty member and got no answer.  (a): only those sent before the
#   member was dead (in flight when the kill began, or sent while its
#   processes were dying: the listen socket accepts until the last of
#   them is gone); nothing sent after may fail: the refused connection
#   makes the balancer pick another member.  (b), (c): those sent to it
#   until it was out of the rotation (a wedged php-fpm takes a request and
#   never answers; nothing can send that request elsewhere).  Which member
#   a request was sent to comes from httpd's access log
#   (BALANCER_WORKER_NAME, matched by an X-Req-Id header), its timing
#   from the client.  Those failures must be 502/503/504.
# - the status page (main server and vhost) shows the member leaving the
#   rotation (error or health-check-failed) within OUT_BOUND seconds of
#   the fault, health-check-failed (the health check itself took it out)
#   within OUT_BOUND, and ok again within BACK_BOUND of the repair (for
#   (a): of php-fpm being ready again);
#   the error log has AH10710 (taken out) and AH10711 (back);
# - the other members answer meanwhile, and the member answers requests
#   again after it is back.
#
# The figures (sent / answered 200 / failed, time to out / back) are
# printed with diag for the release note.  VFBAL_CASES=a,c runs some cases.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Time::Local qw(timelocal);
use VfBal;

my ($INTERVAL, $HC_TIMEOUT, $FAILS, $PASSES) = (1, 0.5, 2, 2);
# fails x interval + timeout = 2.5 s, plus 2.5 s for a noisy 2-core box.
my $OUT_BOUND = 5;
# From the end of the repair (for (a): php-fpm's master is ready again):
# passes x interval = 2 s, plus 3 s.
my $BACK_BOUND = 5;

my $bed = VfBal->new(
    lbmethod      => 'byrequests',
    member_params => 'timeout=3 connectiontimeout=1 retry=30',
    health        => "interval=$INTERVAL timeout=$HC_TIMEOUT fails=$FAILS "
                     . "passes=$PASSES",
);
if (my $why = $bed->netns_unavailable) {
    plan skip_all => $why;
}
eval { $bed->start; 1 } or BAIL_OUT("test bed did not come up: $@");

my @figures;

sub all_ok {
    my ($by) = @_;
    return 3 == grep { $_->{state} eq 'ok' && $_->{vhost}
                       && $_->{vhost}{state} eq 'ok' } values %$by;
}

# When the main status page first showed member $n in a state matching
# $re, after $since.
sub first_seen {
    my ($n, $since, $re) = @_;
    my ($e) = grep { $_->[3] =~ $re } $bed->trace_since($since, $n, 'main');
    return $e ? $e->[0] : undef;
}

# The time of an error log line: [Thu Nov 26 17:15:29.828800 2026] ...
my %MON = (Jan => 0, Feb => 1, Mar => 2, Apr => 3, May => 4, Jun => 5,
           Jul => 6, Aug => 7, Sep => 8, Oct => 9, Nov => 10, Dec => 11);
sub log_time {
    my ($line) = @_;
    my ($mon, $d, $h, $mi, $s, $frac, $y) = $line =~
        /^\[\w+ (\w+) +(\d+) (\d+):(\d+):(\d+)(\.\d+)? (\d+)\]/
        or return undef;
    return timelocal($s, $mi, $h, $d, $MON{$mon}, $y) + ($frac || 0);
}

sub routed_to {
    my ($acc, $r) = @_;
    my $e = $acc->{$r->{id}} or return 0;
    return $e->[1] // 0;
}

sub fault_case {
    my (%c) = @_;
    my $n = $c{member};
    my $name = $c{name};

    ok($bed->poll_status(\&all_ok, 15), 'all members ok to start with')
        or diag($bed->status_text('main'));
    my %initial = map { $_ => $bed->{last_state}{$_}{$n} } qw(main vhost);
    my $elog = $bed->error_log_size;
    my $alog = $bed->access_log_size;
    my $t_start = time;

    my $load = $bed->load(clients => 8, total => 6000, deadline => 45,
                          timeout => 20, urls => ['/who.php?ms=10']);
    my ($tf0, $tf1, $t_out, $t_hc, $t_back, $tr0, $tr1, $out_view);
    my $repaired = 0;
    my $ok = eval {
        $bed->poll_status(sub { 0 }, 1.0);      # steady load for 1 s
        ($tf0, $tf1) = $c{fault}->();
        # Times are those of the main page's answer that first showed the
        # state (from the trace), not of the end of the poll.
        $bed->poll_status(sub { $_[0]{$n}{state} ne 'ok' }, 10)
            and $t_out = first_seen($n, $tf0, qr/^(?!ok$)/);
        $bed->poll_status(
            sub { $_[0]{$n}{state} eq 'health-check-failed' }, 10)
            and $t_hc = first_seen($n, $tf0, qr/^health-check-failed$/);
        $out_view = $bed->observe;
        # Out for a while: at least 1 s after the check took it out, and
        # longer than the member timeout (3 s), so that requests stuck at a
        # wedged member time out rather than being answered on repair.
        my $hold = ($t_hc // time) + 1;
        $hold = $tf1 + 4 if $hold < $tf1 + 4;
        $bed->poll_status(sub { 0 }, $hold - time) if $hold > time;
        ($tr0, $tr1) = $c{repair}->();
        $repaired = 1;
        $bed->poll_status(sub { $_[0]{$n}{state} eq 'ok' }, 15)
            and $t_back = first_seen($n, $tr0, qr/^ok$/);
        # Back in the rotation: it answers again.
        wait_for(sub {
            grep { ($_->{member} // 0) == $n && $_->{t0} > $t_back }
                $load->results;
        }, 3) if $t_back;
        $bed->poll_status(sub { 0 }, 0.5);
        1;
    };
    my $err = $@;
    eval { $c{repair}->() } unless $repaired;
    my @res = $load->finish(stop => 1);
    ok($ok, 'fault injected and repaired') or diag($err);
    return unless $ok;

    my $acc = $bed->access_entries($alog, [grep { defined } map { $_->{id} } @res]);
    my $log = VfBal::slurp($bed->error_log, $elog);
    # When the error log says the check took it out / put it back.
    my ($log_out) = map { log_time($_) }
        grep { /AH10710: .*10\.251\.$n\.2:9000 taken out/ } split /\n/, $log;
    my ($log_back) = map { log_time($_) }
        grep { /AH10711: .*10\.251\.$n\.2:9000 back/ } split /\n/, $log;

    # The figures.
    my @failed = grep { $_->{status} != 200 } @res;
    my %fstatus;
    $fstatus{$_->{status}}++ for @failed;
    my @inflight = grep { routed_to($acc, $_) == $n && $_->{t0} <= $tf0
                          && $_->{t1} >= $tf0 } @res;
    my @during = grep { routed_to($acc, $_) == $n && $_->{t0} > $tf0
                        && $_->{t0} <= $tf1 } @res;
    my $out_at = $t_out // time;
    my @window = grep { routed_to($acc, $_) == $n && $_->{t0} > $tf1
                        && $_->{t0} <= $out_at } @res;
    my @back = grep { ($_->{member} // 0) == $n && $t_back
                      && $_->{t0} > $t_back } @res;
    my $fmt = sub { defined $_[0] ? sprintf('%.1f s', $_[0]) : 'never' };
    my $nfail = sub { scalar grep { $_->{status} != 200 } @_ };
    my $fig = sprintf(
        "(%s) member %d %s: sent %d, answered 200 %d, failed %d%s.  Sent "
        . "to member %d: in flight when the fault hit %d (%d failed), "
        . "while the fault was applied (%.0f ms) %d (%d failed), after "
        . "that until it was out %d (%d failed).  Out after %s, "
        . "health-check-failed after %s (from the fault), back after %s "
        . "(from the end of the repair, which took %.0f ms); %d answered "
        . "by it "
        . "after it was back.  Error "
        . "log: AH10710 (taken out) %s after the fault, AH10711 (back) %s "
        . "after the repair",
        $c{tag}, $n, $name, scalar @res, @res - @failed, scalar @failed,
        (@failed ? ' [' . join(', ', map { "$_ x$fstatus{$_}" }
                                     sort keys %fstatus) . ']' : ''),
        $n, scalar @inflight, $nfail->(@inflight),
        1000 * ($tf1 - $tf0), scalar @during, $nfail->(@during),
        scalar @window, $nfail->(@window),
        $fmt->(defined $t_out ? $t_out - $tf0 : undef),
        $fmt->(defined $t_hc ? $t_hc - $tf0 : undef),
        $fmt->(defined $t_back ? $t_back - $tr1 : undef),
        1000 * ($tr1 - $tr0), scalar @back,
        $fmt->(defined $log_out ? $log_out - $tf0 : undef),
        $fmt->(defined $log_back ? $log_back - $tr1 : undef));
    diag($fig);
    push @figures, $fig;

    # No failures but the ones at the faulty member.
    my $limit = $c{in_flight_only} ? $tf1 : $out_at;
    my @unexpected = grep {
        !(routed_to($acc, $_) == $n && $_->{t0} <= $limit
          && $_->{status} =~ /^50[234]$/)
    } @failed;
    is(scalar @unexpected, 0, $c{in_flight_only}
       ? "failed only requests in flight at member $n when it was killed"
       : "failed only requests sent to member $n before it was out")
        or diag(join "\n", map {
            sprintf "  %s: %d, sent to member %s, t0 %+.2f s from the "
                . "fault, %.2f s long", $_->{id}, $_->{status},
                routed_to($acc, $_) || '?', $_->{t0} - $tf0,
                $_->{t1} - $_->{t0} } @unexpected[0 .. ($#unexpected < 19
                                                   ? $#unexpected : 19)]);
    cmp_ok(scalar @res, '>=', 500, 'a steady load: at least 500 requests');
    my $served_out = grep { $_->{status} == 200 && defined $t_out
                            && $_->{t0} > $t_out && $_->{t1} < $tr0 } @res;
    ok($served_out, "$served_out answered 200 while member $n was out");

    # Out and back, in bounds.
    ok(defined $t_out && $t_out - $tf0 <= $OUT_BOUND,
       "out of the rotation within $OUT_BOUND s");
    ok(defined $t_hc && $t_hc - $tf0 <= $OUT_BOUND,
       "health-check-failed within $OUT_BOUND s");
    isnt($out_view->{$n}{health}, 'ok', 'status page: the failed check '
         . 'says why: ' . ($out_view->{$n}{health} // '(none)'));
    ok(defined $t_back && $t_back - $tr1 <= $BACK_BOUND,
       "back within $BACK_BOUND s of the repair");
    ok(scalar @back, "member $n answers again after it is back");
    like($log, qr/AH10710: .*fcgi:\/\/10\.251\.$n\.2:9000 taken out/,
         'error log: AH10710 taken out');
    like($log, qr/AH10711: .*fcgi:\/\/10\.251\.$n\.2:9000 back/,
         'error log: AH10711 back');

    # Each transition on both status pages.
    for my $page (qw(main vhost)) {
        my @tr = $bed->trace_since($t_start, $n, $page);
        my @seq = (($initial{$page} // '?'), map { $_->[3] } @tr);
        my $seq = join ' -> ', @seq;
        ok($seq =~ /^ok -> (?:error|health-check-failed)\b.* -> ok$/,
           "$page status page: $seq");
        diag(join "\n", map {
            sprintf "  %s page, member %d: %+.2f s from the fault: %s "
                . "(%s)", $page, $n, $_->[0] - $tf0, $_->[3], $_->[4] // ''
        } @tr);
    }
    my @slow = sort { $b->[1] - $b->[0] <=> $a->[1] - $a->[0] }
               grep { $_->[0] >= $t_start } @{$bed->{fetches}};
    diag(sprintf "  slowest status fetches: %s", join '; ', map {
        sprintf "%s at %+.2f s took %.2f s%s", $_->[2], $_->[0] - $tf0,
            $_->[1] - $_->[0], $_->[3] ? '' : ' (failed)' }
        grep { defined } @slow[0 .. 2]);
    # Other members: shown for information (a check timing out under load
    # would take a healthy member out; no request fails for it).
    my @others = grep { $_->[2] != $n } $bed->trace_since($t_start);
    diag(sprintf "  other members' changes: %s", join('; ', map {
        sprintf "%s member %d %s at %+.2f s (%s)", $_->[1], $_->[2],
            $_->[3], $_->[0] - $tf0, $_->[4] // '' } @others) || 'none');
}

my %only = map { $_ => 1 } split /,/, $ENV{VFBAL_CASES} || 'a,b,c';

$only{a} and subtest '(a) member killed: connection refused' => sub {
    fault_case(
        tag => 'a', member => 1, name => 'killed (SIGKILL, php-fpm master '
            . 'and children)', in_flight_only => 1,
        fault  => sub { $bed->kill_member(1) },
        repair => sub { $bed->restart_member(1) },
    );
};

$only{b} and subtest '(b) member SIGSTOPped: wedged' => sub {
    fault_case(
        tag => 'b', member => 2, name => 'SIGSTOPped (master and children)',
        fault  => sub { $bed->stop_member(2) },
        repair => sub { $bed->cont_member(2) },
    );
};

$only{c} and subtest '(c) member cut off: link down, timeouts' => sub {
    fault_case(
        tag => 'c', member => 3, name => 'cut off (veth link down)',
        fault  => sub { $bed->link_member(3, 'down') },
        repair => sub { $bed->link_member(3, 'up') },
    );
};

diag("figures for the release note:\n" . join "\n", @figures);
done_testing;
