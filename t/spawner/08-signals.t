#!/usr/bin/perl
# Signals and the daemon: SIGTERM is a graceful stop (an in-flight slow
# request completes untouched, a kept-alive connection gets its next
# request served, the socket path goes at once, the spawner exits 0 when
# the last worker is gone); SIGINT likewise; SIGUSR1 reopens the error
# log; without -F the spawner daemonizes and writes its pid file.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Select;
use IO::Socket::UNIX;
use POSIX qw(:sys_wait_h);
use Socket qw(SOCK_DGRAM);
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/slow.php", <<'PHP');
<?php $t = microtime(true); $left = sleep(2); printf("slept %.1fs left=%d\n", microtime(true) - $t, $left);
PHP
write_file("$dir/www/fast.php", "<?php echo 'fast ', getmypid(), \"\\n\";\n");

sub conf {
    my ($name, $extra) = @_;
    return write_file("$dir/$name.conf", <<EOC);
[global]
run_dir = $dir/run-$name
$extra

[p]
command = /usr/bin/php-cgi8.2
user = vf-alice
pm = static
pm.max_children = 2
env[VF_TEST_POOL] = \$pool
EOC
}

# --- SIGTERM with a request in flight and a kept-alive connection -------
my $conf = conf('term', '');
my $s = start_spawner(conf => $conf, dir => $dir, log => "$dir/term.log");
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
my $sock = "$dir/run-term/p.sock";

my $keep = fcgi_request($sock, "$dir/www/fast.php", keep => 1);
ok($keep->{ok} && $keep->{sock}, 'a kept-alive connection (FCGI_KEEP_CONN)');
my $again = fcgi_request($sock, "$dir/www/fast.php", keep => 1,
                         sock => $keep->{sock});
is($again->{body}, $keep->{body}, 'php-cgi honours FCGI_KEEP_CONN: same worker');

my $res = "$dir/slow.out";
my $kid = fork // die;
if ($kid == 0) {
    my $r = fcgi_request($sock, "$dir/www/slow.php");
    open my $fh, '>', $res;
    print $fh $r->{ok} ? "ok $r->{body}" : "ERROR $r->{error}";
    close $fh;
    POSIX::_exit(0);
}
sleep 0.5;
my $t_term = time;
kill 'TERM', $s->{pid};
ok(wait_for(sub { !-e $sock }, 2), 'the socket path goes at once');
my $r = fcgi_request($sock, "$dir/www/fast.php");
like($r->{error} // '', qr/connect/, 'new connections are refused right away');

sleep 0.2;
my $k = fcgi_request($sock, "$dir/www/fast.php", sock => $again->{sock});
ok($k->{ok}, 'the kept-alive connection still gets its next request served');

waitpid($kid, 0);
my $out = do { local (@ARGV, $/) = ($res); <> };
like($out, qr/^ok slept 2\.\d+s left=0/, 'the in-flight request completed, its sleep not even interrupted');
ok(wait_for(sub { waitpid($s->{pid}, WNOHANG) == $s->{pid} }, 10), 'the spawner exits');
my $status = $?;
$s->{exited} = 1;
is($status, 0, '... with status 0');
cmp_ok(time - $t_term, '>=', 1.0, '... only after the request was done');
is(scalar children_of($s->{pid}), 0, 'no worker left');
like(log_text($s), qr/NOTICE: stopped/, 'logged "stopped"');

# --- SIGINT, and systemd's notify protocol ---------------------------------
my $nsock = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => "$dir/notify")
    or die "notify socket: $!";
{
    local $ENV{NOTIFY_SOCKET} = "$dir/notify";
    $s = start_spawner(conf => conf('int', ''), dir => $dir, log => "$dir/int.log");
}
ok($s->{ready}, 'second spawner up');
my $sel = IO::Select->new($nsock);
my $msg = '';
$nsock->recv($msg, 512) if $sel->can_read(2);
is($msg, 'READY=1', 'Type=notify: READY=1 once up');
kill 'HUP', $s->{pid};
my @got;
while ($sel->can_read(2)) { $nsock->recv($msg, 512); push @got, $msg; last if $msg =~ /^READY/ }
is_deeply(\@got, ['RELOADING=1', "READY=1\nSTATUS=reloaded"], 'SIGHUP: RELOADING=1, then READY=1');
for my $w (pool_workers($s, 'p')) {
    open my $envf, '<', "/proc/$w/environ" or next;
    unlike(do { local $/; <$envf> }, qr/NOTIFY_SOCKET/,
           "worker $w does not inherit NOTIFY_SOCKET");
}
kill 'INT', $s->{pid};
ok(wait_for(sub { waitpid($s->{pid}, WNOHANG) == $s->{pid} }, 10), 'SIGINT stops it');
is($?, 0, '... gracefully (status 0)');
$s->{exited} = 1;

# --- SIGUSR1 reopens the error log ------------------------------------------
$conf = conf('usr1', "error_log = $dir/usr1-error.log\npid = $dir/usr1.pid");
my $before = time;
system(spawn_bin(), '-c', $conf);
is($? >> 8, 0, 'without -F: the parent exits 0 once the daemon is up');
my $pidfile = "$dir/usr1.pid";
ok(-s $pidfile, 'pid file written');
my $dpid = do { local (@ARGV) = ($pidfile); <> } + 0;
ok(kill(0, $dpid), "daemon $dpid runs");
open my $st, '<', "/proc/$dpid/stat";
my @f = split ' ', (<$st> =~ s/^.*\) //r);
isnt($f[1], $$, 'the daemon is not our child any more');
is($f[3], $dpid, 'the daemon leads its own session');
like(scalar spawner_status($conf), qr/^p\s+static\s+running\s+2 /m, '-s reaches the daemon');
rename "$dir/usr1-error.log", "$dir/usr1-error.log.1";
kill 'USR1', $dpid;
ok(wait_for(sub { -s "$dir/usr1-error.log" }, 5), 'SIGUSR1: a new log file');
like(do { local (@ARGV, $/) = ("$dir/usr1-error.log"); <> },
     qr/error_log reopened/, '... saying so');
kill 'TERM', $dpid;
ok(wait_for(sub { !kill(0, $dpid) }, 10), 'daemon stopped by SIGTERM');
ok(!-e $pidfile, 'pid file removed');
like(do { local (@ARGV, $/) = ("$dir/usr1-error.log"); <> }, qr/NOTICE: stopped/,
     'the daemon logs to the new file');

# --- a second instance on the same run_dir is refused -----------------------
$s = start_spawner(conf => conf('one', ''), dir => $dir, log => "$dir/one.log");
my $s2 = start_spawner(conf => "$dir/one.conf", dir => $dir, log => "$dir/two.log");
ok($s2->{exited} && ($s2->{status} >> 8) == 1, 'a second spawner on the same run_dir exits 1');
like(log_text($s2), qr/vhostfcgi-spawn.ctl: address in use: another server listens there \(is another vhostfcgi-spawn running/,
     '... saying why');
ok(-S "$dir/run-one/p.sock", "... and leaves the first one's sockets alone");
is(stop_spawner($s), 0, 'first one stops cleanly');
done_testing();
