#!/usr/bin/perl
# What args, rlimit_files, rlimit_core and listen.backlog do to a pool, seen
# from outside (/proc/PID/cmdline, /proc/PID/limits, the kernel's backlog
# of the socket as `ss` reports it) and from inside the worker (ini_get,
# posix_getrlimit): the parser's unit tests only prove the values are read.
# Unset, a worker gets the file limit the spawner started with (it raises
# its own to the hard limit) and the spawner's core limit.  A reload that
# changes args or listen.backlog applies them to the same socket.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VFSpawn;

skip_unless_ready();
plan(skip_all => 'ss (iproute2) missing') unless -x '/usr/bin/ss'
                                               || -x '/bin/ss';

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/ini.php", <<'PHP');
<?php $l = posix_getrlimit();
echo "memory_limit=", ini_get('memory_limit'),
     " prepend=[", ini_get('error_prepend_string'), "]",
     " files=", $l['soft openfiles'], "/", $l['hard openfiles'],
     " core=", $l['soft core'], "/", $l['hard core'], "\n";
PHP

# Limits the spawner starts with, chosen so that every value below is told
# apart: its own file limit raised (1000 -> hard), a pool's 321, the
# inherited core limit 4096, a pool's 1048576 and unlimited.  Hard limits
# are only ever lowered here: without CAP_SYS_RESOURCE (containers) even
# root cannot raise them again, and a worker's setrlimit would fail.
my $nofile_hard = proc_limits($$, 'Max open files')->[1];
plan(skip_all => "hard file limit $nofile_hard: 1000 is not below it")
    if $nofile_hard eq 'unlimited' || $nofile_hard <= 1000;
system('prlimit', '--pid', $$, "--nofile=1000:$nofile_hard",
       '--core=4096:unlimited') == 0 or die "prlimit failed\n";

my $static = ['pm' => 'static', 'pm.max_children' => 1];
sub pools {
    my ($mem, $dflt_backlog) = @_;
    return php_pools_conf($dir,
        lim => [@$static, args => qq{-d memory_limit=$mem -d "error_prepend_string=vf args"},
                rlimit_files => 321, rlimit_core => 'unlimited',
                'listen.backlog' => 37],
        core => [@$static, rlimit_core => 1048576],
        dflt => [@$static, ($dflt_backlog ? ('listen.backlog' => $dflt_backlog) : ())]);
}
my $conf = pools('77M');

my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));
ok(wait_for(sub { 3 == grep { pool_workers($s, $_) == 1 } qw(lim core dflt) }, 10),
   'one worker per pool') or BAIL_OUT('no workers: ' . log_text($s));
my ($lim) = pool_workers($s, 'lim');
my ($core) = pool_workers($s, 'core');
my ($dflt) = pool_workers($s, 'dflt');

# --- args -------------------------------------------------------------------
is_deeply(cmdline($lim), ['/usr/bin/php-cgi8.2', '-d', 'memory_limit=77M', '-d',
                          'error_prepend_string=vf args'],
          'args: the words follow the command in argv, a quoted one whole');
is_deeply(cmdline($dflt), ['/usr/bin/php-cgi8.2'], 'no args: the command alone');
like(ask('lim'), qr/^memory_limit=77M prepend=\[vf args\] /,
     'args: php-cgi runs with them');
like(ask('dflt'), qr/^memory_limit=(?!77M )\S+ prepend=\[\] /,
     "no args: php-cgi's own settings");

# --- rlimit_files, rlimit_core ----------------------------------------------
is_deeply(proc_limits($lim, 'Max open files'), [321, 321],
          'rlimit_files = 321: soft and hard');
is_deeply(proc_limits($lim, 'Max core file size'), ['unlimited', 'unlimited'],
          'rlimit_core = unlimited: soft and hard');
is_deeply(proc_limits($core, 'Max core file size'), [1048576, 1048576],
          'rlimit_core = 1048576: soft and hard, in bytes');
like(ask('lim'), qr/ files=321\/321 core=unlimited\/unlimited$/,
     'the worker itself sees them (posix_getrlimit)');
is_deeply(proc_limits($s->{pid}, 'Max open files'), [$nofile_hard, $nofile_hard],
          'the spawner raised its own file limit to the hard one');
is_deeply(proc_limits($dflt, 'Max open files'), [1000, $nofile_hard],
          'unset rlimit_files: the limit the spawner started with, not its raised one');
# (The spawner's own: 4096, or 0 under AddressSanitizer, which lowers the
# soft core limit of the process it runs in.)
is_deeply(proc_limits($dflt, 'Max core file size'),
          proc_limits($s->{pid}, 'Max core file size'),
          "unset rlimit_core: the spawner's ("
          . join('/', @{proc_limits($s->{pid}, 'Max core file size')}) . ')');
is_deeply(proc_limits($core, 'Max open files'), [1000, $nofile_hard],
          'rlimit_core alone leaves the file limit unset');

# --- listen.backlog ---------------------------------------------------------
is(backlog('lim'), 37, 'listen.backlog = 37: the socket listens with 37');
is(backlog('dflt'), 511, 'default backlog 511');

# --- a reload applies changed args and backlog to the same sockets ----------
my @ino = map { (stat "$dir/run/$_.sock")[1] } qw(lim dflt);
pools('88M', 23);
kill 'HUP', $s->{pid};
ok(wait_for(sub { log_text($s) =~ /reloaded in \d+ ms: 0 pool\(s\) added, 2 changed, 0 removed, 1 unchanged/ }, 10),
   'reload: lim and dflt changed') or diag log_text($s);
is(backlog('dflt'), 23, 'reload: the backlog of the kept socket is now 23');
is(backlog('lim'), 37, 'reload: an unchanged backlog stays 37');
is_deeply([map { (stat "$dir/run/$_.sock")[1] } qw(lim dflt)], \@ino,
          'reload: same socket files');
ok(wait_for(sub {
        my @w = pool_workers($s, 'lim');
        @w == 1 && $w[0] != $lim && (cmdline($w[0])->[2] // '') eq 'memory_limit=88M';
    }, 10), 'reload: the new lim worker runs with the new args');
ok(wait_for(sub { ask('lim') =~ /^memory_limit=88M / }, 10),
   'reload: and serves with them');
my ($lim2) = pool_workers($s, 'lim');
is_deeply(proc_limits($lim2, 'Max open files'), [321, 321],
          'reload: the new worker has rlimit_files too');

is(stop_spawner($s), 0, 'graceful stop');
done_testing();

sub ask {
    my ($pool) = @_;
    my $r = fcgi_request("$dir/run/$pool.sock", "$dir/www/ini.php");
    return $r->{ok} ? $r->{body} : "ERROR $r->{error}";
}

sub cmdline {
    my ($pid) = @_;
    open my $fh, '<', "/proc/$pid/cmdline" or return [];
    local $/;
    my $argv = <$fh> // '';
    $argv =~ s/\0\z//;           # each word ends in NUL: keep empty ones
    return [split /\0/, $argv, -1];
}

# The backlog of a listening Unix socket: ss reports it as the Send-Q.
sub backlog {
    my ($pool) = @_;
    my $out = `ss -xlnH src '$dir/run/$pool.sock'`;
    return $out =~ /^u_str\s+LISTEN\s+\d+\s+(\d+)\s/m ? $1 : "none in: $out";
}
