#!/usr/bin/perl
# SIGHUP under load: an unchanged pool keeps its workers (same pids), a
# changed pool restarts gracefully on the same socket (new settings, old
# workers retire once idle), a removed pool stops (socket gone, its
# in-flight request completes), an added pool starts - and not one
# request fails.  A broken file, or an added pool that cannot bind, is
# refused with FILE:LINE: KEY and the running pools keep serving.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(time sleep);
use VFSpawn;

skip_unless_ready();

ensure_user($_) for qw(vf-alice vf-bob);
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/v.php", <<'PHP');
<?php usleep(20000); echo "v=", getenv('VERSION'), " pid=", getmypid(), "\n";
PHP
write_file("$dir/www/slow.php", "<?php sleep(2); echo \"slow done\\n\";\n");

sub pools_file {
    my (%o) = @_;
    my $text = <<EOC;
[global]
run_dir = $dir/run
log_level = info

[t]
istemplate = 1
command = /usr/bin/php-cgi8.2
env[VF_TEST_POOL] = \$pool

[same]
template = t
user = vf-alice
pm = static
pm.max_children = 2
env[VERSION] = 1

[changed]
template = t
user = vf-bob
pm = static
pm.max_children = $o{changed_n}
env[VERSION] = $o{version}
EOC
    $text .= <<EOC if $o{removed};

[removed]
template = t
user = vf-alice
pm = ondemand
EOC
    $text .= <<EOC if $o{added};

[added]
template = t
user = vf-bob
pm = ondemand
env[VERSION] = new
EOC
    $text .= $o{extra} // '';
    return write_file("$dir/pools.conf", $text);
}

my $conf = pools_file(changed_n => 2, version => 1, removed => 1);
my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
ok(wait_for(sub { pool_workers($s, 'same') == 2 && pool_workers($s, 'changed') == 2 }, 5),
   'static pools up');
my @same = pool_workers($s, 'same');
my @old_changed = pool_workers($s, 'changed');

my @loads = map {
    load_start(dir => $dir, name => $_, addr => "$dir/run/$_.sock",
               script => "$dir/www/v.php", procs => 4,
               expect => qr/^v=\w+ pid=\d+/)
} qw(same changed);

# An in-flight request on the pool about to be removed.
my $slow = fork // die;
if ($slow == 0) {
    my $r = fcgi_request("$dir/run/removed.sock", "$dir/www/slow.php");
    POSIX::_exit($r->{ok} && $r->{body} =~ /slow done/ ? 0 : 3);
}
ok(wait_for(sub { pool_workers($s, 'removed') == 1 }, 5), 'removed pool busy');
sleep 0.3;

# --- the reload -----------------------------------------------------------
pools_file(changed_n => 3, version => 2, added => 1);
my $t0 = time;
kill 'HUP', $s->{pid};
ok(wait_for(sub { log_text($s) =~ /reloaded in (\d+) ms: 1 pool\(s\) added, 1 changed, 1 removed, 1 unchanged/ }, 5),
   'reload logged: 1 added, 1 changed, 1 removed, 1 unchanged');
ok(!-e "$dir/run/removed.sock", "removed pool's socket is gone at once");
my $r = fcgi_request("$dir/run/added.sock", "$dir/www/v.php");
ok($r->{ok} && $r->{body} =~ /^v=new /, 'added pool serves');

ok(wait_for(sub {
        my @now = pool_workers($s, 'changed');
        @now == 3 && !grep { my $p = $_; grep { $_ == $p } @old_changed } @now;
    }, 10), 'changed pool: 3 new workers, the old ones retired');
my $seen_new = wait_for(sub {
    fcgi_request("$dir/run/changed.sock", "$dir/www/v.php")->{body} =~ /^v=2 /
}, 5);
ok($seen_new, 'changed pool serves with the new settings');
is_deeply([pool_workers($s, 'same')], \@same, 'unchanged pool: same pids');

waitpid($slow, 0);
is($? >> 8, 0, "the removed pool's in-flight request completed");
ok(wait_for(sub { pool_workers($s, 'removed') == 0 }, 5),
   'removed pool: its worker is gone');
ok(wait_for(sub { !status_row(scalar spawner_status($conf), 'removed') }, 5),
   'removed pool: gone from -s');

# --- a broken file is refused -------------------------------------------
sleep 0.3;
my $good_text = do { local (@ARGV, $/) = ($conf); <> };
write_file($conf, $good_text . "\n[broken]\ntemplate = t\nuser = vf-alice\npm = sometimes\n");
my $line = () = ($good_text . "\n[broken]\ntemplate = t\nuser = vf-alice\n") =~ /\n/g;
$line++;
kill 'HUP', $s->{pid};
ok(wait_for(sub { log_text($s) =~ /reload failed: \Q$conf\E:$line: pm: bad value 'sometimes'.*; keeping the running pools/ }, 5),
   'broken file: reload failed with FILE:LINE: KEY, old pools kept')
    or diag log_text($s);

# --- an added pool that cannot bind is refused --------------------------
write_file("$dir/run/blocked.sock", "in the way\n");
write_file($conf, $good_text . "\n[blocked]\ntemplate = t\nuser = vf-alice\n");
kill 'HUP', $s->{pid};
ok(wait_for(sub { log_text($s) =~ /reload failed: \Q$conf\E: listen: \[pool blocked\] cannot use .*blocked.sock: a file that is not a socket is in the way; keeping the running pools/ }, 5),
   'unbindable pool: reload refused, saying why') or diag log_text($s);
sleep 0.3;
ok(!status_row(scalar spawner_status($conf), 'blocked'), '... and not started');

my @changed_now = pool_workers($s, 'changed');
sleep 0.5;
my ($ls, $lc) = map { load_stop($_) } @loads;
cmp_ok($ls->{ok}, '>', 50, "unchanged pool under load: $ls->{ok} requests");
is($ls->{fail}, 0, 'unchanged pool: zero failed') or diag "@{ $ls->{errors} }";
cmp_ok($lc->{ok}, '>', 50, "changed pool under load: $lc->{ok} requests");
is($lc->{fail}, 0, 'changed pool: zero failed across the restart')
    or diag "@{ $lc->{errors} }";
is_deeply([pool_workers($s, 'same')], \@same, 'unchanged pool: still the same pids')
    or diag log_text($s);
is_deeply([pool_workers($s, 'changed')], \@changed_now,
          'refused reloads touched nothing');

is(stop_spawner($s), 0, 'graceful stop');
unlike(log_text($s), qr/crash/, 'no crash logged');
done_testing();
