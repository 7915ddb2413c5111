#!/usr/bin/perl
# A client that aborts its upload - announces 10 MB and closes after 1 MB,
# after nothing, after a slow start, or part-way through a chunked body -
# leaves no pooled connection in a bad state: the requests after it on the
# same pool are all answered right, the backend began each request once
# and finished every one but the aborted ones, httpd logs only the
# aborted reads, and its children keep serving.
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
my $MB = 1 << 20;
my $chunk = join '', map { chr(32 + rand 95) } 1 .. $MB;

# [label, request options, reaches the backend: sure | maybe | no]
my @aborts = (
    ['declares 10 MB, sends 1 MB, closes',
     { body => $chunk, declare => 10 * $MB, abort_after => $MB }, 'sure'],
    ['declares 10 MB, sends 100 KB slowly, closes',
     { body => substr($chunk, 0, 100_000), declare => 10 * $MB,
       drip => [10, 0.1], abort_after => 100_000 }, 'sure'],
    ['declares 10 MB, sends no byte of it, closes',
     { body => '', declare => 10 * $MB, abort_after => 0 }, 'maybe'],
    ['chunked, sends 1 MB, closes',
     { body => $chunk, chunked => 1, abort_after => $MB }, 'no'],
);

for my $be (@VFClientFault::BACKENDS) {
    for my $a (@aborts) {
        my ($label, $req, $reach) = @$a;
        my $pos = $cf->log_pos;
        my $c = $cf->client;
        my $r = $c->request(host => $cf->host($be),
                            path => "/echo.php?id=abort", %$req);
        if ($be eq 'mbh') {
            $cf->{mbh_sent}++, $cf->{mbh_open}++ if $reach eq 'sure';
            $cf->{mbh_maybe}++ if $reach eq 'maybe';
        }
        # The abort has to be noticed before the next requests can tell.
        sleep 0.2;
        is($cf->normals($be, 9), 9,
           "$be: $label; the next 9 requests are answered right");
        wait_for(sub { $cf->count_log($pos, $VFClientFault::ABORTED_READ) },
                 3, 0.1);
        $cf->check_log("$be: $label", $pos);
        is($cf->count_log($pos, $VFClientFault::ABORTED_READ), 1,
           "$be: $label: logged once, at info");
    }
}

$cf->check_mbh_counters('after the aborted uploads');
$cf->check_status('after the aborted uploads');
$cf->check_alive('after the aborted uploads');
is($cf->{normal_bad}, 0, "all $cf->{normal_ok} normal requests answered "
   . "right");
done_testing();
