#!/usr/bin/perl
# process.max holds from the first worker on: at startup (a static pool
# of 3 and a dynamic pool with start_servers = 4 under process.max = 4:
# never more than 4 workers), and on a reload that lowers it while adding
# a pool (the added pool starts under the new limit, not the old one).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user($_) for qw(vf-alice vf-bob);
my $dir = test_dir();

sub pools_file {
    my (%o) = @_;
    my $text = <<EOC;
[global]
run_dir = $dir/run
log_level = info
$o{global}

[t]
istemplate = 1
command = /usr/bin/php-cgi8.2
env[VF_TEST_POOL] = \$pool

[st]
template = t
user = vf-alice
pm = static
pm.max_children = 3
EOC
    $text .= <<EOC if $o{dyn};

[dyn]
template = t
user = vf-bob
pm = dynamic
pm.max_children = 4
pm.start_servers = 4
pm.min_spare_servers = 1
pm.max_spare_servers = 4
EOC
    return write_file("$dir/pools.conf", $text);
}

# The largest worker count seen (children of the spawner, and the
# "workers N" line of -s) over `secs` seconds.
sub peak_workers {
    my ($s, $conf, $secs) = @_;
    my ($kids, $status) = (0, 0);
    my $end = time + $secs;
    while (1) {
        my $n = () = children_of($s->{pid});
        $kids = $n if $n > $kids;
        if ((spawner_status($conf) // '') =~ /^pools \d+, workers (\d+),/m) {
            $status = $1 if $1 > $status;
        }
        last if time >= $end;
        sleep 0.05;
    }
    return ($kids, $status);
}

# --- at startup -------------------------------------------------------------
my $conf = pools_file(global => 'process.max = 4', dyn => 1);
my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
like(log_text($s), qr/ready: 2 pool\(s\), 4 worker\(s\)/,
     'ready with 4 workers, not 3 + 4');
my ($kids, $status) = peak_workers($s, $conf, 1);
cmp_ok($kids, '<=', 4, "startup: at most 4 worker processes (saw $kids)");
cmp_ok($status, '<=', 4, "startup: -s never shows more than 4 workers (saw $status)");
like(scalar spawner_status($conf), qr/^pools 2, workers 4, process\.max 4$/m,
     '-s: 2 pools, 4 workers, process.max 4');
like(log_text($s), qr/\[pool \w+\] process\.max \(4\) reached/,
     'the log says process.max was reached');
is(stop_spawner($s), 0, 'graceful stop');

# --- a reload that lowers process.max and adds a pool ------------------------
$conf = pools_file(global => '');
$s = start_spawner(conf => $conf, dir => $dir, log => "$dir/reload.log");
ok($s->{ready}, 'spawner up, no process.max') or BAIL_OUT(log_text($s));
ok(wait_for(sub { children_of($s->{pid}) == 3 }, 5), '3 static workers');
pools_file(global => 'process.max = 4', dyn => 1);
kill 'HUP', $s->{pid};
ok(wait_for(sub { log_text($s) =~ /reloaded in \d+ ms: 1 pool\(s\) added/ }, 5),
   'reload: process.max = 4, dyn added') or diag log_text($s);
($kids, $status) = peak_workers($s, $conf, 1);
cmp_ok($kids, '<=', 4, "after the reload: at most 4 worker processes (saw $kids)");
cmp_ok($status, '<=', 4, "after the reload: -s never shows more than 4 workers (saw $status)");
is(stop_spawner($s), 0, 'graceful stop');
done_testing();
