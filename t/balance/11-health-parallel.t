#!/usr/bin/perl
# Members that never answer a health check hold up no other member's check.
#
# Regression: the checks of every member ran one after another in the one
# watchdog thread, so each member that accepted the check but never
# answered cost a whole timeout per round.  With eight such members and
# timeout=0.8, a round took 6.4 s: a member that came back was seen back
# (passes=2) only 6.4 to 13 s later, and one that went down was taken out
# as late, though interval=1.
#
# Here: balancer://php of nine Unix-socket members:
#   mute1..8  sockets that listen and never accept: the check's connect
#             and request go into the queue, its answer never comes;
#   good      t/bin/fcgi-misbehave, started once the checks took it out.
# Checks: interval=1 timeout=0.8 fails=1 passes=2.  "good" must be back
# within 5 s of its start (the checks side by side: about 2 s), and all
# eight mute members out, each logged.  No namespaces, no php-fpm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Socket qw(PF_UNIX SOCK_STREAM pack_sockaddr_un);
use Time::HiRes qw(time);
use VfBal;

plan skip_all => 'needs root (httpd with User www-data)' if $> != 0;
plan skip_all => 'build/bin/fcgi-misbehave missing: run make first'
    unless -x repo_dir() . '/build/bin/fcgi-misbehave';

my $MUTE = 8;
my $BACK_BOUND = 5;     # seconds; one after another the checks needed 6.4+

my $bed = VfBal->new;
my $dir = $bed->dir;

my $good = "$dir/good.sock";
my $good_name = "unix:$good|fcgi://good";

# Listening sockets that never accept; kept open until the end.
my (@mute, @mute_names);
for my $i (1 .. $MUTE) {
    my $path = "$dir/mute$i.sock";
    socket(my $l, PF_UNIX, SOCK_STREAM, 0) or die "socket: $!\n";
    bind($l, pack_sockaddr_un($path)) or die "bind $path: $!\n";
    chmod 0666, $path;
    listen($l, 64) or die "listen: $!\n";
    push @mute, $l;
    push @mute_names, "unix:$path|fcgi://mute$i";
}

sub taken_out {
    my ($name, $why) = @_;
    my $text = "AH10710: VhostFcgiHealthCheck: balancer://php member $name "
               . "taken out after 1 failed checks: $why";
    return qr/\Q$text\E/;
}

my $bal = "<Proxy balancer://php>\n"
    . join('', map { "    BalancerMember \"$_\" retry=30\n" }
                   @mute_names, $good_name)
    . "</Proxy>\n"
    . "VhostFcgiHealthCheck balancer://php interval=1 timeout=0.8 "
    . "fails=1 passes=2\n";
$bed->start_httpd_with($bal);

subtest 'every member taken out' => sub {
    ok($bed->wait_log(0, taken_out($good_name, 'connect: '), 20),
       "$good_name (no socket yet) taken out") or diag($bed->error_log_tail);
    for my $name (@mute_names) {
        ok($bed->wait_log(0, taken_out($name, 'no answer within 0.8 s'), 20),
           "$name (never answers) taken out")
            or diag($bed->error_log_tail);
    }
};

subtest "the healthy member is back within $BACK_BOUND s" => sub {
    my $from = $bed->error_log_size;
    my $t0 = time;
    $bed->start_misbehave($good);
    my $back = "AH10711: VhostFcgiHealthCheck: balancer://php member "
               . "$good_name back after 2 good checks";
    my $log = $bed->wait_log($from, qr/\Q$back\E/, $BACK_BOUND);
    ok($log, "$good_name back within $BACK_BOUND s of its start, "
             . "$MUTE mute members notwithstanding")
        or diag($bed->error_log_tail);
    diag(sprintf 'back after %.1f s', time - $t0) if $log;
};

$bed->stop_httpd;
close $_ for @mute;
done_testing;
