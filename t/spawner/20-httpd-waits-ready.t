#!/usr/bin/perl
# httpd starts serving only once the spawner it runs (VhostFcgiSpawner) is
# ready, its pools' sockets bound: the first requests after a start must
# not find the socket missing (503), or someone else's listener on it.
# Here the spawner's start is slow for a known reason: a listener still on
# the pool's socket path (what a previous spawner's orphaned workers
# leave) makes it wait for that to let go, which happens 3 s later.  A
# request sent as soon as httpd answers anything must run the script, and
# the error log says when the spawner was ready (AH10729).  Then the
# spawner is killed: httpd restarts it, and stops it when it stops.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../soak/lib";
use Test::More;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Time::HiRes qw(time sleep);
use VFSoak;

plan skip_all => 'needs root' if $> != 0;

my ($dir, $bins) = php_site('vfready',
                            'hi.php' => "<?php echo \"hi from the pool\\n\";\n");
mkdir "$dir/run";
chmod 0755, "$dir/run";

# What a SIGKILLed spawner leaves: its status socket, stale, and (the
# orphans' stand-in) a listener on the pool's socket for 3 s, never
# answering.
IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$dir/run/vhostfcgi-spawn.ctl",
                      Listen => 1) or die "ctl: $!";
my $orphan = fork // die "fork: $!";
if ($orphan == 0) {
    my $l = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => "$dir/run/p.sock",
                                  Listen => 16) or POSIX::_exit(1);
    sleep 3;
    POSIX::_exit(0);
}
sleep 0.2 until -S "$dir/run/p.sock";

my $t0 = time;
my $h = httpd_start(
    dir => $dir, bins => $bins, spawner => 1, loglevel => 'info',
    pools => php_pool_conf(dir => $dir, name => 'p', user => 'vfsoak-a',
                           pm => [ pm => 'static', 'pm.max_children' => 1 ]),
    vhosts => [ { name => 'p.test', root => "$dir/site", pool => 'p' } ],
);
my $c = VFSoak::Client->new(port => $h->{port}, timeout => 20);
my $r = $c->request(host => 'p.test', path => '/hi.php');
$c->close;
my $elapsed = time - $t0;
is($r->{status}, 200, 'the first request after the start is served')
    or diag("$r->{status}\n" . read_file($h->{errlog}));
like($r->{body} // '', qr/hi from the pool/, '... by the pool\'s script');
cmp_ok($elapsed, '>=', 2.5, '... once the orphaned listener let go (the spawner was not ready before)');
my $log = read_file($h->{errlog});
ok($log =~ /AH10729: VhostFcgiSpawner: pid \d+ ready (\d+) ms after the start/ && $1 >= 2000,
   'the error log says the spawner was ready, seconds after the start')
    or diag($log);
unlike($log, qr/AH10661|AH10730/, 'no failed connect, no "not ready"');

# A graceful restart waits for the spawner's reload the same way.
my $mark = length $log;
system($h->{httpd}, '-f', $h->{conf}, '-k', 'graceful') == 0 or die "graceful: $?";
ok(wait_for(sub { substr(read_file($h->{errlog}), $mark)
                      =~ /AH10729: VhostFcgiSpawner: pid \d+ ready \d+ ms after the reload/ }, 15),
   'a graceful restart: the error log says the spawner was ready after its reload')
    or diag(substr(read_file($h->{errlog}), $mark));

# The spawner dies (kill -9): httpd says so (AH10692) and starts another
# (AH10691), whose pool serves; stopping httpd stops that one too.
waitpid($orphan, 0);
my $sp = spawner_of($h);
ok($sp, "httpd runs the spawner (pid $sp)");
$mark = length read_file($h->{errlog});
kill 'KILL', $sp;
my $sp2;
ok(wait_for(sub { $sp2 = spawner_of($h); $sp2 && $sp2 != $sp
                  && substr(read_file($h->{errlog}), $mark)
                     =~ /AH10691: VhostFcgiSpawner: started .* \(pid $sp2\)/ }, 15),
   'the spawner killed: httpd starts another, and says so')
    or diag(substr(read_file($h->{errlog}), $mark));
like(substr(read_file($h->{errlog}), $mark),
     qr/AH10692: VhostFcgiSpawner: pid $sp ended \(exit code or signal 9/,
     '... and the error log says the first one ended, by signal 9');
$c = VFSoak::Client->new(port => $h->{port}, timeout => 20);
$r = $c->request(host => 'p.test', path => '/hi.php');
$c->close;
like($r->{body} // '', qr/hi from the pool/, '... the new spawner\'s pool serves');
httpd_stop($h);
ok(wait_for(sub { !kill(0, $sp2) }, 10), 'stopping httpd stops the spawner');
done_testing();
