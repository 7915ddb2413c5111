# An httpd child that dies holding connection slots (kill -9 while four
# requests are at pool vf_busy, max=4) must not take them with it: the
# parent's monitor gives them back to the pool within seconds, says so in
# the error log, and the pool serves at full width again.  Without that
# the pool would stay "full" and every later request would wait for the
# Timeout and get 503.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use POSIX ();
use Time::HiRes qw(time sleep);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason pool_status);
use VhostFcgi::Load ();

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 6;

my $pool = 'unix:' . $ENV{VF_BUSY_SOCK};
my $mark = VhostFcgi::Test::log_mark();

# Four requests that hold the pool's four slots for a while.
my @holders;
for (1 .. 4) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        eval { raw_request('vf_busy', 'GET', '/reuse/sleep.php?ms=2500') };
        POSIX::_exit(0);
    }
    push @holders, $pid;
}
my $full = 0;
for (1 .. 50) {
    my $s = pool_status($pool);
    if ($s && $s->{open} == 4) { $full = 1; last }
    sleep 0.1;
}
ok($full, 'four requests hold all four slots of the pool');

my @kids = VhostFcgi::Test::httpd_children();
kill 'KILL', @kids;
waitpid $_, 0 for @holders;
diag("killed httpd children @kids");

my ($open, $t0) = (undef, time);
while (time - $t0 < 15) {
    my $s = pool_status($pool);
    $open = $s->{open} if $s;
    last if defined $open && $open == 0;
    sleep 0.2;
}
is($open, 0, sprintf 'the slots came back (open=0 after %.1f s)', time - $t0);
like(VhostFcgi::Test::log_wait_for($mark, qr/AH10663/, 5),
     qr/FastCGI pool \Q$pool\E: httpd child \d+ exited holding \d of its connection slots; taken back/,
     'the error log says which child held how many');

# php-fpm's workers are still sleeping out the killed requests; give the
# pool its full width back and load it.
my $r = VhostFcgi::Load::run(vhost => 'vf_busy', path => '/reuse/sleep.php?ms=20',
                             clients => 8, requests => 80, keepalive => 1,
                             deadline => 30, timeout => 8);
diag('after the crash: ' . VhostFcgi::Load::summary($r));
is($r->{ok}, 80, 'all 80 requests of 8 clients answered 200');
my $s = pool_status($pool);
ok($s && $s->{open} <= 4, 'still never more than 4 open (' . ($s ? $s->{open} : '?') . ')');
ok($s && !$s->{waiting}, 'nothing left waiting');
