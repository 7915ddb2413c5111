#!/usr/bin/perl
# Process counts over time per pm mode, with php-cgi workers:
# idle -> burst of 20 concurrent slow requests per pool -> idle.
#   static    exactly max_children, always, same pids
#   dynamic   start_servers at start, up to max_children, back within the
#             spare bounds when idle
#   ondemand  zero while idle, up to max_children, zero again after
#             pm.process_idle_timeout
# and process.max bounds all pools together.
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
write_file("$dir/www/slow.php", <<'PHP');
<?php usleep(400000); echo "ok pool=", getenv('VF_TEST_POOL'), " pid=", getmypid(), "\n";
PHP
write_file("$dir/www/fast.php", "<?php echo 'ok';\n");

my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run
process.max = 12
log_level = info

[t]
istemplate = 1
command = /usr/bin/php-cgi8.2
user = vf-alice
env[VF_TEST_POOL] = \$pool

[st]
template = t
pm = static
pm.max_children = 3

[dyn]
template = t
pm = dynamic
pm.max_children = 6
pm.start_servers = 2
pm.min_spare_servers = 1
pm.max_spare_servers = 2

[od]
template = t
pm = ondemand
pm.max_children = 5
pm.process_idle_timeout = 2s
EOC

my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
my $n = sub { scalar pool_workers($s, $_[0]) };

# --- idle --------------------------------------------------------------
ok(wait_for(sub { $n->('st') == 3 && $n->('dyn') == 2 }, 5),
   'idle: static runs max_children (3), dynamic start_servers (2)');
is($n->('od'), 0, 'idle: ondemand runs no worker');
my @st_pids = pool_workers($s, 'st');
sleep 0.5;
is($n->('od'), 0, 'idle: still none for ondemand');
is_deeply([pool_workers($s, 'st')], \@st_pids, 'static: same pids');

# --- burst: 20 slow requests per pool at once ----------------------------
my $res = "$dir/burst.out";
my $kid = fork // die;
if ($kid == 0) {
    my @r = parallel_requests(map { my $p = $_;
        map { ["$dir/run/$p.sock", "$dir/www/slow.php"] } 1 .. 20
    } qw(st dyn od));
    open my $fh, '>', $res;
    print $fh join("\n", map { "$_->{ok} $_->{text}" } @r), "\n";
    close $fh;
    POSIX::_exit(0);
}
my (%max, $max_total, @timeline);
my $t0 = time;
while (waitpid($kid, WNOHANG) != $kid) {
    my %c = map { $_ => $n->($_) } qw(st dyn od);
    my $total = $c{st} + $c{dyn} + $c{od};
    $max{$_} = ($max{$_} // 0) < $c{$_} ? $c{$_} : $max{$_} for keys %c;
    $max_total = $total if !$max_total || $total > $max_total;
    push @timeline, sprintf('%.1fs st=%d dyn=%d od=%d', time - $t0,
                            @c{qw(st dyn od)});
    sleep 0.05;
}
diag('burst timeline: ' . join(', ', @timeline[grep { $_ % 10 == 0 } 0 .. $#timeline]));
open my $fh, '<', $res or die;
my @lines = <$fh>;
close $fh;
my @failed = grep { !/^1 ok pool=/ } @lines;
is(scalar @lines, 60, '60 requests answered');
is(scalar @failed, 0, 'none failed') or diag "@failed[0 .. 4]";
my %seen;
/^1 ok pool=(\w+)/ and $seen{$1}++ for @lines;
is_deeply(\%seen, { st => 20, dyn => 20, od => 20 },
          'each pool served its own 20');
is($max{st}, 3, 'burst: static stays at 3');
ok($max{dyn} > 2 && $max{dyn} <= 6, "burst: dynamic grew ($max{dyn}), never above 6");
ok($max{od} > 1 && $max{od} <= 5, "burst: ondemand grew ($max{od}), never above 5");
ok($max_total <= 12, "burst: never above process.max 12 in all ($max_total)");

# --- idle again ----------------------------------------------------------
ok(wait_for(sub { $n->('od') == 0 }, 8),
   'idle again: ondemand back to 0 after the idle timeout');
ok(wait_for(sub {
        my $row = status_row(scalar spawner_status($conf), 'dyn');
        $row && $row->{idle} >= 1 && $row->{idle} <= 2 && $row->{busy} == 0
            && $n->('dyn') <= 2;
    }, 8), 'idle again: dynamic back within the spare bounds (1..2 idle)')
    or diag scalar spawner_status($conf);
is($n->('st'), 3, 'idle again: static still 3');
is_deeply([pool_workers($s, 'st')], \@st_pids, 'static: still the same pids');

# --- a single request to an idle ondemand pool starts one worker ----------
my $r = fcgi_request("$dir/run/od.sock", "$dir/www/fast.php");
ok($r->{ok} && $r->{body} eq 'ok', 'cold request to ondemand answered');
is($n->('od'), 1, '... by exactly one new worker')
    or diag scalar(spawner_status($conf)), log_text($s);

is(stop_spawner($s), 0, 'graceful stop, exit 0');
is(scalar children_of($s->{pid}), 0, 'no worker left');
unlike(log_text($s), qr/ERROR|crash/, 'no errors logged');
done_testing();
