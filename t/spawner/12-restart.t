#!/usr/bin/perl
# The spawner killed outright (what httpd's VhostFcgiSpawner or systemd
# then restart): its workers get SIGTERM from the kernel (PR_SET_PDEATHSIG)
# - idle ones exit at once, a busy one finishes its request (a blocking
# system call in it, sleep() say, returns early: EINTR) - and a new
# spawner started at once waits for them to let go of the sockets, then
# serves.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
# The slow request runs until the test says so (its usleep() may be cut
# short by SIGTERM - php-cgi's handler interrupts blocking system calls -
# so it loops on the flag file, not on time).
mkdir "$dir/flag";
chmod 0777, "$dir/flag";
write_file("$dir/www/slow.php", <<"PHP");
<?php while (!file_exists('$dir/flag/go')) { clearstatcache(); usleep(10000); } echo 'slow done';
PHP
write_file("$dir/www/ok.php", "<?php echo 'ok ', getmypid();\n");

my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run

[p]
command = /usr/bin/php-cgi8.2
user = vf-alice
pm = static
pm.max_children = 3
env[VF_TEST_POOL] = \$pool
EOC

my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
ok(wait_for(sub { pool_workers($s, 'p') == 3 }, 5), '3 workers');
my @old = pool_workers($s, 'p');

my $res = "$dir/slow.out";
my $kid = fork // die;
if ($kid == 0) {
    my $r = fcgi_request("$dir/run/p.sock", "$dir/www/slow.php");
    open my $fh, '>', $res;
    print $fh $r->{ok} ? $r->{body} : "ERROR $r->{error}";
    close $fh;
    POSIX::_exit(0);
}
ok(wait_for(sub { my $r = status_row(scalar spawner_status($conf), 'p');
                   $r && $r->{busy} == 1 }, 5), 'one worker busy with the slow request');
kill 'KILL', $s->{pid};
waitpid($s->{pid}, 0);
$s->{exited} = 1;
# (A dead worker may linger as a zombie of init: look at its state.)
sub alive {
    return grep {
        my $st = '';
        if (open my $f, '<', "/proc/$_/stat") { $st = <$f> // '' }
        $st =~ /\) ([^Z])/;
    } @_;
}
ok(wait_for(sub { alive(@old) == 1 }, 2),
   'killed spawner: its idle workers exit at once (PDEATHSIG)');

# Once the new spawner says it waits for the orphan, let the orphan's
# request finish.
my $helper = fork // die;
if ($helper == 0) {
    wait_for(sub { log_text({ log => "$dir/second.log" }) =~ /waiting up to/ }, 10);
    write_file("$dir/flag/go", '');
    POSIX::_exit(0);
}
my $s2 = start_spawner(conf => $conf, dir => $dir, log => "$dir/second.log");
waitpid($helper, 0);
ok($s2->{ready}, 'a new spawner started right away comes up');
like(log_text($s2), qr/waiting up to \d+ ms for the workers of a previous spawner to let go/,
     '... after waiting for the orphan to finish its request');
waitpid($kid, 0);
is(do { local (@ARGV, $/) = ($res); <> } // "none", "slow done",
   "the orphan's in-flight request completed");
ok(wait_for(sub { !alive(@old) }, 3), 'no old worker left');
my $r = fcgi_request("$dir/run/p.sock", "$dir/www/ok.php");
ok($r->{ok} && $r->{body} =~ /^ok \d+/, 'requests resume');
my ($pid) = $r->{body} =~ /(\d+)/;
ok((grep { $_ == $pid } pool_workers($s2, 'p')), '... served by the new workers');
is(stop_spawner($s2), 0, 'graceful stop');
done_testing();
