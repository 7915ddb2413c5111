#!/usr/bin/perl
# Crash loops are paced and logged, never spun: a command that exits 1 at
# once, one that exits 0 at once (not a FastCGI server), one that prints
# its usage and exits 0 with catch_workers_output = no, and an ondemand
# pool whose workers die while a client waits.  Other pools keep serving;
# a reload with a working command brings the pool back.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/ok.php", "<?php echo 'ok';\n");
my $false = -x '/usr/bin/false' ? '/usr/bin/false' : '/bin/false';
my $true = -x '/usr/bin/true' ? '/usr/bin/true' : '/bin/true';
my $echo = -x '/usr/bin/echo' ? '/usr/bin/echo' : '/bin/echo';

sub pools {
    my ($cmd) = @_;
    return write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run

[t]
istemplate = 1
user = vf-alice
env[VF_TEST_POOL] = \$pool

[fails]
template = t
command = $cmd
pm = static
pm.max_children = 3

[exits0]
template = t
command = $true
pm = static
pm.max_children = 2

[usage0]
template = t
command = $echo
args = usage: not a FastCGI server
catch_workers_output = no
pm = static
pm.max_children = 2

[od]
template = t
command = $false
pm = ondemand

[good]
template = t
command = /usr/bin/php-cgi8.2
pm = static
pm.max_children = 2
EOC
}
my $conf = pools($false);

sub cpu_ticks {
    open my $fh, '<', "/proc/$_[0]/stat" or return 0;
    my @f = split ' ', (<$fh> =~ s/^.*\) //r);
    return $f[11] + $f[12];
}

my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
my $t0 = time;
my $cpu0 = cpu_ticks($s->{pid});
# A client waits on the ondemand pool whose workers die at once.
my $waiting = fcgi_request("$dir/run/od.sock", "$dir/www/ok.php", timeout => 1);
ok(!$waiting->{ok}, 'a client of the dying ondemand pool is not served');
my $good = load_start(dir => $dir, name => 'good', addr => "$dir/run/good.sock",
                      script => "$dir/www/ok.php", procs => 2, pause => 0.02,
                      expect => qr/^ok$/);
sleep(3 - (time - $t0));
my $status = spawner_status($conf);
my $cpu = (cpu_ticks($s->{pid}) - $cpu0) / POSIX::sysconf(POSIX::_SC_CLK_TCK());
my %row = map { $_ => status_row($status, $_) }
          qw(fails exits0 usage0 od good);
diag $status;

cmp_ok($row{fails}{spawned}, '<=', 20,
       "exit 1 at once, 3 workers: $row{fails}{spawned} starts in 3 s (paced)");
cmp_ok($row{fails}{spawned}, '>=', 3, '... but it keeps trying');
cmp_ok($row{fails}{crashed}, '>=', 3, '... each exit counted as a crash');
cmp_ok($row{exits0}{spawned}, '<=', 15,
       "exit 0 at once: $row{exits0}{spawned} starts in 3 s (paced too)");
is($row{exits0}{crashed}, 0, '... counted as exits, not crashes');
# Regression: its output went to /dev/null, and its writes there looked
# like a FastCGI answer: respawned at once, about 120 starts a second.
cmp_ok($row{usage0}{spawned}, '<=', 15,
       "exit 0 after printing its usage, output not caught: "
       . "$row{usage0}{spawned} starts in 3 s (paced too)");
cmp_ok($row{od}{spawned}, '<=', 10, "ondemand with a client waiting: $row{od}{spawned} starts");
cmp_ok($cpu, '<', 0.6, sprintf('the spawner used %.2f s of CPU in 3 s', $cpu));

my $log = log_text($s);
my @loops = $log =~ /WARNING: \[pool fails\] crash loop: /g;
ok(@loops >= 1 && @loops <= 5, scalar(@loops) . ' crash-loop messages for the pool (one per pause)');
like($log, qr/WARNING: \[pool fails\] crash loop: \d+ workers failed within 1000 ms of starting in the last \d+ ms \(last: worker \d+ exited with status 1 after \d+ ms\); no new worker for \d+ ms/,
     'the message says what, how often and for how long');
like($log, qr/\[pool exits0\] crash loop: .*exited with status 0/,
     'the exit-0 loop is caught');
like($log, qr/\[pool usage0\] crash loop: .*exited with status 0/,
     'the loop that printed its usage is caught');
unlike($log, qr/\[pool usage0\] worker \d+ said:/,
       '... and its output, not caught, is not logged');
my @single = $log =~ /WARNING: \[pool fails\] worker \d+ exited with status 1/g;
cmp_ok(scalar @single, '<=', scalar(@loops) + 1,
       'single exits are not logged one by one at warning level');

my $g = load_stop($good);
cmp_ok($g->{ok}, '>', 20, "the good pool served $g->{ok} requests meanwhile");
is($g->{fail}, 0, '... none failed');

# Fixed by a reload: the pool changes, and its new workers serve.
pools('/usr/bin/php-cgi8.2');
kill 'HUP', $s->{pid};
ok(wait_for(sub {
        my $r = fcgi_request("$dir/run/fails.sock", "$dir/www/ok.php", timeout => 2);
        $r->{ok} && $r->{body} eq 'ok';
    }, 10), 'after a reload with a working command the pool serves');
ok(wait_for(sub { pool_workers($s, 'fails') == 3 }, 5), '... with its 3 workers');

is(stop_spawner($s), 0, 'graceful stop');
done_testing();
