#!/usr/bin/perl
# A client that sends its POST body slowly (a few bytes or KB at a time,
# over seconds) gets the right answer, with Content-Length or chunked, on a
# pool with pooled connections - and meanwhile, and afterwards, the other
# requests of the pool are served right; the backend saw each request once.
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

# Drips: [label, body length, pieces, seconds between pieces, chunked]
my @drips = (
    ['100 KB in 30 pieces over 3 s',    100_000, 30, 0.1,  0],
    ['10 bytes, one per 0.3 s',         10,      10, 0.3,  0],
    ['chunked, 50 KB in 20 chunks over 2 s', 50_000, 20, 0.1, 1],
);

for my $be (@VFClientFault::BACKENDS) {
    my $pos = $cf->log_pos;
    for my $d (@drips) {
        my ($label, $len, $pieces, $gap, $chunked) = @$d;
        my $body = join '', map { chr(32 + rand 95) } 1 .. $len;
        my $id = ++$cf->{seq};
        # The drip in a child; normal requests from here meanwhile.
        pipe(my $rd, my $wr) or die;
        my $pid = fork // die;
        if ($pid == 0) {
            close $rd;
            my $c = $cf->client;
            my $r = $c->request(host => $cf->host($be),
                                path => "/echo.php?id=$id", body => $body,
                                chunked => $chunked, drip => [$pieces, $gap]);
            my $good = $r->{complete} && $r->{status} == 200
                       && $cf->body_ok($be, $r, $id, $body);
            printf $wr "%d %.2f %s %s\n", $good ? 1 : 0, $r->{time},
                $r->{status} // '-', $r->{error} // substr($r->{body}, 0, 60);
            close $wr;
            POSIX::_exit(0);
        }
        close $wr;
        $cf->{mbh_sent}++ if $be eq 'mbh';
        my $t0 = time;
        my ($n, $good) = (0, 0);
        while (time - $t0 < $pieces * $gap - 0.2 || !$n) {
            $good += $cf->normals($be, 1, phase => $n++);
        }
        my $line = <$rd> // "0 0 - child died\n";
        waitpid($pid, 0);
        my ($ok, $secs, $st, $err) = split ' ', $line, 4;
        ok($ok, "$be: slow body ($label) answered right after ${secs}s")
            or diag "status $st: $err";
        cmp_ok($secs, '>=', ($pieces - 1) * $gap * 0.9,
               "$be: ... and it really took its time");
        is($good, $n, "$be: $n other requests meanwhile, all answered right");
    }
    is($cf->normals($be, 12), 12, "$be: 12 requests afterwards, all right");
    $cf->check_log("$be: slow bodies", $pos);
}

$cf->check_mbh_counters('after the slow bodies');
$cf->check_status('after the slow bodies');
$cf->check_alive('after the slow bodies');
is($cf->{normal_bad}, 0, "all $cf->{normal_ok} normal requests answered "
   . "right");
done_testing();
