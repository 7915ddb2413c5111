# Graceful restarts under load leave the pool's figures true (vhost
# vf_dead_child: php-fpm pool www2, max=2, VhostFcgiMaxInFlight 2
# queue=0).  The figures outlive each restart, and both generations count
# on them while the old one finishes its requests, so every unit counted
# must come back down: one that does not would hold a place for good, and
# with only two places the pool would soon answer every request 503.
#
# Here: 4 clients keep sending short requests while httpd restarts
# gracefully 5 times; they get only 200 or the admission's 503; once they
# stop, the status page shows nothing in flight, two requests at once are
# both admitted, and the counters went on across the restarts.
use strict;
use warnings FATAL => 'all';

use Apache::Test qw(-withtestmore);
use POSIX ();
use Time::HiRes qw(time sleep);
use VhostFcgi::Test qw(:all);
use VhostFcgi::Pools qw(pools_skip_reason pool_status pool_status_until
                         pool_figures pool_idle);

if (my $why = pools_skip_reason()) { plan skip_all => $why }
plan tests => 8;

my $vhost = 'vf_dead_child';
my $name = "fcgi://127.0.0.1:$ENV{VF_FPM_PORT2}";
my $restarts = 5;




my ($ok, $s) = pool_status_until($name, \&pool_idle, 10);
ok($ok, 'nothing in flight at the start: ' . pool_figures($s));
my $before = $s->{requests} // 0;

# The load: each client writes one status per line; a request that gets
# no answer at all is "none".
my $dir = t_logs_dir();
my $until = time + $restarts * 1.2 + 2;
my @kids;
for my $n (1 .. 4) {
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open my $out, '>', "$dir/graceful-load.$n" or POSIX::_exit(1);
        while (time < $until) {
            my $res = eval {
                raw_request($vhost, 'GET', '/reuse/sleep.php?ms=40',
                            timeout => 15);
            };
            my $st = ($res && $res->{status}) || 'none';
            print $out "$st\n";
            sleep 0.02 if $st ne '200';     # a refusal is immediate
        }
        close $out;
        POSIX::_exit(0);
    }
    push @kids, $pid;
}
my $mark = log_mark();
for (1 .. $restarts) {
    sleep 1;
    kill 'USR1', httpd_parent_pid();
}
waitpid($_, 0) for @kids;
my $done = () = log_since($mark) =~ /resuming normal operations/g;
is($done, $restarts, "$restarts graceful restarts under load");

my %by;
for my $n (1 .. 4) {
    open my $in, '<', "$dir/graceful-load.$n" or next;
    $by{$_}++ for map { chomp; $_ } <$in>;
    unlink "$dir/graceful-load.$n";
}
my $summary = join ', ', map { "$_ x$by{$_}" } sort keys %by;
ok(($by{200} // 0) > 20, "the clients were served: $summary");
is(join(',', grep { $_ ne '200' && $_ ne '503' } sort keys %by), '',
   '... with 200, or 503 from the admission, and nothing else');

($ok, $s) = pool_status_until($name, \&pool_idle, 10);
ok($ok, 'afterwards nothing is in flight: ' . pool_figures($s));
ok($s && $s->{requests} >= $before + ($by{200} // 0),
   'the counters went on across the restarts: ' . pool_figures($s));

my @pair = map {
    my $sock = raw_connect($vhost);
    syswrite $sock, "GET /reuse/sleep.php?ms=300 HTTP/1.1\r\n"
                  . "Host: localhost\r\nConnection: close\r\n\r\n";
    { sock => $sock, sent => time };
} 1 .. 2;
read_held(\@pair, 15);
is(scalar(grep { ($_->{res}{status} // 0) == 200 } @pair), 2,
   'two requests at once are both admitted: '
   . join(', ', map { $_->{res}{status} // 'none' } @pair));
unlike(log_since($mark), qr/AH10741/,
       'no child left anything counted (each gave its own back)');
