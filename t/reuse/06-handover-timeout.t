# A request handed a finishing request's connection, with its own request
# already written on it, sleeps until its answer arrives (vf_conn.c).  A
# script that never answers must still end in a 504 after the vhost's
# Timeout, as it does on a connection of its own, and not hold the client
# and an httpd thread for as long as the backend keeps silent.
#
# vf_reuse_wait: fcgi-misbehave, one connection (max=1), Timeout 2.  Four
# requests that answer after 0.8 s take the connection first, in each httpd
# process that gets one, and four that never answer ("silent", which holds
# its connection 60 s) queue behind them: in a process that got both, the
# last quick request hands its connection over to a silent one.  Each
# silent request waits for at most all the others (4 × 0.8 s + 3 × 2 s)
# and then its own 2 s.  A build whose handed-over requests slept until
# their answer left all four unanswered until the client gave up (40 s).
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason);
use Time::HiRes qw(time sleep);
use POSIX ();

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan skip_all => 'fcgi-misbehave not built' unless misbehave_available();
plan tests => 6;

my $T0;

# One request in a child of its own; status, time taken and start (from
# $T0) go to a file.
sub spawn_request {
    my ($path, $file) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my $t0 = time;
    my $res = raw_request('vf_reuse_wait', 'GET', $path, timeout => 40);
    open my $fh, '>', $file or POSIX::_exit(1);
    printf $fh "%s %.2f %.2f\n", $res->{status} // 'none', time - $t0, $t0 - $T0;
    close $fh;
    POSIX::_exit(0);
}

sub results {
    return map {
        my $line = -e $_ ? do { local (@ARGV, $/) = $_; <> } : 'none 0 0';
        [split ' ', $line];
    } @_;
}

# Once here first, so that the children need not each look up the test
# configuration (a second or more each) while they race.
raw_request('vf_reuse_wait', 'GET', '/mbh/echo.php?ms=1');

my $dir = t_logs_dir();
my $mark = log_mark();
my (@pids, @quick, @silent);
$T0 = time;
for my $i (1 .. 4) {
    push @quick, "$dir/06-quick-$i.txt";
    push @pids, spawn_request("/mbh/echo.php?ms=800&q=$i", $quick[-1]);
    sleep 0.05;
}
sleep 0.2;
for my $i (1 .. 4) {
    push @silent, "$dir/06-silent-$i.txt";
    push @pids, spawn_request("/mbh/silent.php?ms=60000&s=$i", $silent[-1]);
    sleep 0.05;
}
waitpid $_, 0 for @pids;

my @q = results(@quick);
my @s = results(@silent);
diag('quick: ' . join(', ', map { "$_->[0] in $_->[1] s (from $_->[2])" } @q));
diag('silent: ' . join(', ', map { "$_->[0] in $_->[1] s (from $_->[2])" } @s));

is(scalar(grep { $_->[0] eq '200' } @q), 4, 'the four quick requests got 200');
is(scalar(grep { $_->[0] eq '504' } @s), 4, 'the four silent requests got 504');
my ($slowest) = sort { $b <=> $a } map { $_->[1] } @s;
cmp_ok($slowest, '<', 20, 'each silent request was answered well before its backend gave up (60 s)');
cmp_ok((sort { $a <=> $b } map { $_->[1] } @s)[0], '>=', 1.5,
       'none was answered before the 2 s Timeout');

my $log = log_since($mark);
my $early = () = $log =~ /the next waiting request was written on the connection/g;
SKIP: {
    skip PER_PROCESS_WHY, 1 if per_process_mpm();
    cmp_ok($early, '>', 0, 'waiting requests were written on connections before the answer on them was read');
}
my $n504 = () = $log =~ /AH10640: .*silent\.php.*: (?:no answer|the response headers were not complete) within 2 seconds/g;
is($n504, 4, 'the error log says why, once per silent request')
    or diag($log);
