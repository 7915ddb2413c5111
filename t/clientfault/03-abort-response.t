#!/usr/bin/perl
# A client that goes away while a 50 MB response is on its way - after
# 1 MB, right after the headers, after not reading for 2 s - or before the
# answer even started, leaves no pooled connection in a bad state: the
# requests after it on the same pool are all answered right, the backend
# began each request once and finished all but the abandoned responses,
# nothing is logged as a backend error, and httpd's children keep serving.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../soak/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VFSoak;
use VFClientFault;

plan skip_all => 'needs root' if $> != 0;
my $cf = cf_setup();
my $BIG = 50 << 20;

# [label, path, request options, the backend finishes it]
my @leaves = (
    ['reads 1 MB of a 50 MB response, closes',
     "/big.php?bytes=$BIG", { read_limit => 1 << 20 }, 0],
    ['reads the headers of a 50 MB response, closes',
     "/big.php?bytes=$BIG", { read_limit => 0 }, 0],
    ['stops reading a 50 MB response for 2 s, closes',
     "/big.php?bytes=$BIG", { stall => 2 }, 0],
    ['closes 0.2 s into a 1 s script, before the answer',
     '/sleep.php?ms=1000', { leave => 0.2 }, 1],
);

for my $be (@VFClientFault::BACKENDS) {
    for my $l (@leaves) {
        my ($label, $path, $req, $finishes) = @$l;
        my $pos = $cf->log_pos;
        my $c = $cf->client;
        my $t0 = time;
        my $r = $c->request(host => $cf->host($be), path => $path, %$req,
                            discard_body => 1);
        $c->close;
        if ($be eq 'mbh') {
            $cf->{mbh_sent}++;
            $cf->{mbh_open}++ unless $finishes;
        }
        ok(!$r->{complete} && ($req->{leave} || ($r->{status} // 0) == 200),
           "$be: $label (" . ($r->{error} // 'complete?!') . ")");
        # The 1 s script is still running: let it end first.
        sleep($finishes ? 1.2 : 0.2);
        is($cf->normals($be, 9), 9,
           "$be: after that the next 9 requests are answered right");
        $cf->check_log("$be: $label", $pos);
    }
}

$cf->check_mbh_counters('after the abandoned responses');
$cf->check_status('after the abandoned responses');
$cf->check_alive('after the abandoned responses');
is($cf->{normal_bad}, 0, "all $cf->{normal_ok} normal requests answered "
   . "right");
done_testing();
