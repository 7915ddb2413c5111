#!/usr/bin/perl
# A member that answers the health check a byte at a time, each byte in
# time but the whole answer far too late, fails the check.
#
# Regression: the timeout applied to each recv, so an answer that kept
# trickling in passed however long it took, and held the one watchdog
# thread that checks every member of every balancer meanwhile.  Now
# connect, send and read share one deadline.
#
# The member is t/bin/fcgi-misbehave on a Unix socket; the check's path,
# /drip, makes it send its 33-byte answer one byte a second (some 32 s in
# all).  With timeout=1.5 every byte comes in time; the whole answer does
# not.  fails=1: the first check takes the member out, 1.5 s after it
# began; 8 s allows for a busy box.  No namespaces, no php-fpm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VfBal;

plan skip_all => 'needs root (httpd with User www-data)' if $> != 0;
plan skip_all => 'build/bin/fcgi-misbehave missing: run make first'
    unless -x repo_dir() . '/build/bin/fcgi-misbehave';

my $OUT_BOUND = 8;

my $bed = VfBal->new;
my $dir = $bed->dir;

my $sock = "$dir/drip.sock";
my $name = "unix:$sock|fcgi://drip";

$bed->start_misbehave($sock);

my $bal = "<Proxy balancer://php>\n"
    . "    BalancerMember \"$name\" timeout=3 retry=30\n"
    . "</Proxy>\n"
    . "VhostFcgiHealthCheck balancer://php path=/drip interval=2 "
    . "timeout=1.5 fails=1 passes=1\n";
my $t0 = time;
$bed->start_httpd_with($bal);

my $want = "AH10710: VhostFcgiHealthCheck: balancer://php member $name "
           . 'taken out after 1 failed checks: answer not complete within '
           . '1.5 s (';
my $log;
my $out_at = wait_for(sub {
    $log = VfBal::slurp($bed->error_log);
    $log =~ /\Q$want\E(\d+) bytes came\)/ ? time : 0;
}, $OUT_BOUND, 0.1);
ok($out_at, "the dripping member is taken out within $OUT_BOUND s, its "
   . 'answer not complete within the timeout')
    or diag($bed->error_log_tail);
if ($out_at) {
    my ($bytes) = $log =~ /\Q$want\E(\d+) bytes came\)/;
    cmp_ok($bytes, '>', 0, "part of the answer came ($bytes bytes)");
    diag(sprintf 'taken out %.1f s after httpd was started', $out_at - $t0);
}

$bed->stop_httpd;
done_testing;
