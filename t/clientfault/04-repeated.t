#!/usr/bin/perl
# Each client fault 20 times in a row on the same pool - slow bodies,
# aborted uploads, abandoned responses - with normal requests in between
# and a second client sending normal requests all along: every normal
# request is answered 200 with the right body, the backend's counters add
# up exactly, no pool is left with busy or waiting connections, and
# httpd's children neither crash nor change.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../soak/lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use VFSoak;
use VFClientFault;

plan skip_all => 'needs root' if $> != 0;
my $cf = cf_setup();
my $ROUNDS = $ENV{CF_ROUNDS} // 20;
my $MB = 1 << 20;
my $data = join '', map { chr(32 + rand 95) } 1 .. $MB;

# Each fault kind: variants taken in turn; a variant returns [what the
# client did, reaches the backend (sure|maybe|no), the backend finishes it].
my %faults = (
    'slow body' => [
        sub { my ($c, $be, $id) = @_;
              my $body = substr($data, 0, 20_000 + int rand 20_000);
              my $r = $c->request(host => "$be.test",
                                  path => "/echo.php?id=$id", body => $body,
                                  drip => [5, 0.1]);
              [$r, 'sure', 1, $body] },
        sub { my ($c, $be, $id) = @_;
              my $body = substr($data, 0, 1 + int rand 3000);
              my $r = $c->request(host => "$be.test",
                                  path => "/echo.php?id=$id", body => $body,
                                  drip => [4, 0.1], chunked => 1);
              [$r, 'sure', 1, $body] },
    ],
    'aborted upload' => [
        sub { my ($c, $be, $id) = @_;
              [$c->request(host => "$be.test", path => "/echo.php?id=$id",
                           body => $data, declare => 10 * $MB,
                           abort_after => $MB), 'sure', 0] },
        sub { my ($c, $be, $id) = @_;
              [$c->request(host => "$be.test", path => "/echo.php?id=$id",
                           body => substr($data, 0, 200_000),
                           declare => 10 * $MB, drip => [4, 0.05],
                           abort_after => 200_000), 'sure', 0] },
        sub { my ($c, $be, $id) = @_;
              [$c->request(host => "$be.test", path => "/echo.php?id=$id",
                           body => '', declare => 10 * $MB,
                           abort_after => 0), 'maybe', 0] },
        sub { my ($c, $be, $id) = @_;
              [$c->request(host => "$be.test", path => "/echo.php?id=$id",
                           body => $data, chunked => 1,
                           abort_after => $MB / 2), 'no', 0] },
    ],
    'abandoned response' => [
        sub { my ($c, $be) = @_;
              [$c->request(host => "$be.test", path => '/big.php?bytes='
                           . (50 * $MB), read_limit => $MB,
                           discard_body => 1), 'sure', 0] },
        sub { my ($c, $be) = @_;
              [$c->request(host => "$be.test", path => '/big.php?bytes='
                           . (50 * $MB), read_limit => 0), 'sure', 0] },
        sub { my ($c, $be) = @_;
              [$c->request(host => "$be.test", path => '/big.php?bytes='
                           . (50 * $MB), stall => 0.5), 'sure', 0] },
    ],
);

# A second client: normal requests to both pools until told to stop.
my $stop = "$cf->{dir}/stop-bg";
pipe(my $bg_r, my $bg_w) or die;
my $bg = fork // die;
if ($bg == 0) {
    close $bg_r;
    my $c = $cf->client;
    my %n = (ok => 0, bad => 0, mbh => 0);
    my $i = 0;
    $cf->{normal_ok} = $cf->{normal_bad} = 0;
    $cf->{seq} = 1_000_000;
    while (!-e $stop) {
        my $be = $VFClientFault::BACKENDS[$i % 2];
        my $good = $cf->normal($be, client => $c,
                               $i % 3 ? (post => 1 + int rand 150_000) : ());
        $n{mbh}++ if $be eq 'mbh';
        $n{$good ? 'ok' : 'bad'}++;
        $i++;
    }
    print $bg_w "$n{ok} $n{bad} $n{mbh}\n";
    close $bg_w;
    POSIX::_exit(0);
}
close $bg_w;

for my $be (@VFClientFault::BACKENDS) {
    for my $kind (sort keys %faults) {
        my $variants = $faults{$kind};
        my ($answered, $normal_good, $normal_n) = (0, 0, 0);
        my $pos = $cf->log_pos;
        for my $round (1 .. $ROUNDS) {
            my $id = ++$cf->{seq};
            my $c = $cf->client;
            my ($r, $reach, $finishes, $body) =
                @{ $variants->[$round % @$variants]->($c, $be, $id) };
            $c->close;
            if ($be eq 'mbh') {
                $cf->{mbh_sent}++ if $reach eq 'sure';
                $cf->{mbh_maybe}++ if $reach eq 'maybe';
                $cf->{mbh_open}++ if $reach eq 'sure' && !$finishes;
            }
            if ($finishes) {
                if ($r->{complete} && $r->{status} == 200
                    && $cf->body_ok($be, $r, $id, $body)) {
                    $answered++;
                }
                else {
                    diag "$be $kind round $round: status "
                        . ($r->{status} // '-') . ', ' . ($r->{error} // '');
                }
            }
            $normal_n += 2;
            $normal_good += $cf->normals($be, 2, phase => $round);
        }
        my $slow = $kind eq 'slow body';
        is($answered, $slow ? $ROUNDS : 0,
           "$be: $ROUNDS x $kind" . ($slow ? ', all answered right' : ''));
        is($normal_good, $normal_n,
           "$be: the $normal_n normal requests between them, all right");
        # httpd logs an aborted read when its thread notices: let the last
        # one land before counting.
        my $want = $kind eq 'aborted upload' ? $ROUNDS : 0;
        wait_for(sub { $cf->count_log($pos, $VFClientFault::ABORTED_READ)
                           >= $want }, 3, 0.1);
        sleep 0.3;
        $cf->check_log("$be: $ROUNDS x $kind", $pos);
        is($cf->count_log($pos, $VFClientFault::ABORTED_READ), $want,
           "$be: $ROUNDS x $kind: $want lines logged at info, one per "
           . "aborted read") if $want;
    }
}

write_file($stop, '');
my ($bg_ok, $bg_bad, $bg_mbh) = split ' ', (<$bg_r> // '0 1 0');
waitpid($bg, 0);
$cf->{mbh_sent} += $bg_mbh;
cmp_ok($bg_ok, '>', 50, "the second client's $bg_ok requests meanwhile...");
is($bg_bad, 0, '... were all answered right');

$cf->check_mbh_counters("after ${ROUNDS}x each fault");
$cf->check_status("after ${ROUNDS}x each fault");
$cf->check_alive("after ${ROUNDS}x each fault");
is($cf->{normal_bad}, 0, "all $cf->{normal_ok} normal requests answered "
   . "right");
done_testing();
