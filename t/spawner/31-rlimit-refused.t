#!/usr/bin/perl
# An rlimit_files or rlimit_core that no worker could set is a config
# error, not a crash loop.  A worker sets both its limits to the pool's
# value while still root, and setrlimit(2) refuses a hard limit above the
# process's own without CAP_SYS_RESOURCE (as in many containers), and an
# open-file limit above fs.nr_open always.  So -t names FILE:LINE: KEY, the
# spawner does not start with such a pool, and a reload bringing one is
# refused while the running pools keep serving.  A value at the hard limit
# is fine and reaches the worker.
#
# The spawner runs under prlimit (hard file limit 2000, hard core limit
# 1000000 bytes) and setpriv without CAP_SYS_RESOURCE, whatever this
# machine gives root.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use VFSpawn;

skip_unless_ready();
for my $tool (qw(prlimit setpriv)) {
    plan(skip_all => "$tool (util-linux) missing")
        unless grep { -x "$_/$tool" } qw(/usr/bin /bin);
}

ensure_user('vf-alice');
my $dir = test_dir();
mkdir "$dir/www";
chmod 0755, "$dir/www";
write_file("$dir/www/lim.php", <<'PHP');
<?php $l = posix_getrlimit();
echo "files=", $l['soft openfiles'], "/", $l['hard openfiles'], "\n";
PHP

my @confine = ('prlimit', '--nofile=1000:2000', '--core=0:1000000',
               'setpriv', '--inh-caps=-sys_resource',
               '--bounding-set=-sys_resource', '--');
my $s;
END {
    my $rc = $?;
    stop_spawner($s, 10) if $s && !$s->{exited};
    $? = $rc;
}

# The pool "lim" has rlimit_files on line 10 of the file (a template
# gives it: the line named is where it is written).
sub pools {
    my (%v) = @_;
    my $text = <<EOC;
[global]
run_dir = $dir/run

[t]
istemplate = 1
command = /usr/bin/php-cgi8.2
user = vf-alice
pm = static
pm.max_children = 1
rlimit_files = $v{files}
rlimit_core = $v{core}
env[VF_TEST_POOL] = \$pool

[lim]
template = t

[other]
template = t
rlimit_files = 1500
rlimit_core = 0
EOC
    return write_file("$dir/pools.conf", $text);
}

# `vhostfcgi-spawn -t` confined: (output, exit status).
sub check {
    my $conf = shift;
    my $cmd = join ' ', map { "'$_'" } @confine, spawn_bin(), '-c', $conf, '-t';
    my $out = `$cmd 2>&1 >/dev/null`;
    return ($out, $? >> 8);
}

my $conf = pools(files => 2001, core => 0);
my ($out, $rc) = check($conf);
is($rc, 1, '-t: rlimit_files 2001 over a hard limit of 2000: refused');
like($out, qr/^\Q$conf\E:10: rlimit_files: \[pool lim\] 2001 open files is above this process's hard limit \(2000 open files\), which it may not raise \(no CAP_SYS_RESOURCE\): no worker could set it/m,
     '... naming FILE:LINE: rlimit_files, the values and why') or diag $out;
like($out, qr/LimitNOFILE=/, '... and what to raise');

# Root of a user namespace (an unprivileged container) holds
# CAP_SYS_RESOURCE as capget(2) sees it, and still may not raise a hard
# limit: the check tries, it does not ask.
SKIP: {
    skip 'no user namespaces here (unshare -Ur)', 2
        unless system('unshare -Ur true >/dev/null 2>&1') == 0;
    my $cmd = join ' ', map { "'$_'" } 'prlimit', '--nofile=1000:2000',
        'unshare', '-Ur', spawn_bin(), '-c', $conf, '-t';
    my $ns = `$cmd 2>&1 >/dev/null`;
    is($? >> 8, 1, '-t as root of a user namespace: refused too');
    like($ns, qr/:10: rlimit_files: \[pool lim\] 2001 open files is above/,
         '... saying why') or diag $ns;
}

pools(files => 2000, core => 1000001);
($out, $rc) = check($conf);
is($rc, 1, '-t: rlimit_core 1000001 over a hard limit of 1000000: refused');
like($out, qr/^\Q$conf\E:11: rlimit_core: \[pool lim\] 1000001 bytes is above this process's hard limit \(1000000 bytes\)/m,
     '... naming FILE:LINE: rlimit_core') or diag $out;

pools(files => 2000, core => 'unlimited');
($out, $rc) = check($conf);
is($rc, 1, '-t: rlimit_core unlimited over a limited hard limit: refused');
like($out, qr/:11: rlimit_core: \[pool lim\] unlimited is above/, '... saying so')
    or diag $out;

pools(files => 'unlimited', core => 0);
my $plain = `'${\ spawn_bin()}' -c '$conf' -t 2>&1 >/dev/null`;
isnt($? >> 8, 0, '-t: rlimit_files unlimited: refused even unconfined');
like($plain, qr/:10: rlimit_files: \[pool lim\] unlimited is more than the kernel allows \(fs\.nr_open: \d+ open files\)/,
     '... as more than fs.nr_open') or diag $plain;

# The limits themselves: accepted, and the worker gets them.
pools(files => 2000, core => 1000000);
($out, $rc) = check($conf);
is($rc, 0, '-t: rlimit_files 2000 and rlimit_core 1000000, at the hard limits: ok')
    or diag $out;

# httpd checks it too where it starts the spawner (its limits are then the
# spawner's), and only there: a standalone spawner may have other limits.
pools(files => 2001, core => 0);
{
    my $mods = `apxs -q LIBEXECDIR`;
    chomp $mods;
    my $so = "$FindBin::Bin/../../.libs/mod_vhostfcgi.so";
    my $httpd_conf = sub {
        my ($spawner) = @_;
        my $text = <<EOC;
ServerRoot "$dir"
ServerName localhost
Listen 127.0.0.1:9
ErrorLog "$dir/httpd-error.log"
PidFile "$dir/httpd.pid"
LoadModule mpm_event_module  $mods/mod_mpm_event.so
LoadModule authz_core_module $mods/mod_authz_core.so
LoadModule proxy_module      $mods/mod_proxy.so
LoadModule vhostfcgi_module  $so
VhostFcgiPoolsFile $conf
@{[ $spawner ? 'VhostFcgiSpawner ' . spawn_bin() : '' ]}
VhostFcgiPool lim
EOC
        return write_file("$dir/httpd.conf", $text);
    };
    my $t = sub {
        my $cmd = join ' ', map { "'$_'" } @confine, '/usr/sbin/apache2', '-t',
                  '-f', $httpd_conf->(@_);
        my $o = `$cmd 2>&1`;
        return ($o, $? >> 8);
    };
    ($out, $rc) = $t->(1);
    isnt($rc, 0, 'httpd -t with VhostFcgiSpawner: refused');
    like($out, qr/rlimit_files: \[pool lim\] 2001 open files is above/,
         '... naming the pools file\'s line and key') or diag $out;
    ($out, $rc) = $t->(0);
    is($rc, 0, 'httpd -t with a standalone spawner: not its business')
        or diag $out;
}

# The spawner does not start with a pool no worker could run.
{
    local $ENV{VF_SPAWN_WRAP} = join ' ', @confine, $ENV{VF_SPAWN_WRAP} // '';
    $s = start_spawner(conf => $conf, dir => $dir);
    ok(!$s->{ready} && $s->{exited}, 'the spawner does not start with it');
    like(log_text($s), qr/:10: rlimit_files: \[pool lim\] 2001 open files/,
         '... and says why') or diag log_text($s);

    # Started at the limit, then a reload over it.
    pools(files => 2000, core => 0);
    $s = start_spawner(conf => $conf, dir => $dir);
}
ok($s->{ready}, 'spawner up with rlimit_files 2000') or BAIL_OUT(log_text($s));
ok(wait_for(sub { 2 == grep { pool_workers($s, $_) == 1 } qw(lim other) }, 10),
   'a worker per pool') or BAIL_OUT(log_text($s));
my ($worker) = pool_workers($s, 'lim');
is_deeply(proc_limits($worker, 'Max open files'), [2000, 2000],
          'the worker has 2000/2000 open files');
is(ask('lim'), 'files=2000/2000', '... and serves, seeing it');

pools(files => 2001, core => 0);
kill 'HUP', $s->{pid};
ok(wait_for(sub { log_text($s) =~ /reload failed: \Q$conf\E:10: rlimit_files: \[pool lim\] 2001 open files .*keeping the running pools/ }, 5),
   'a reload raising it over the limit is refused, saying why')
    or diag log_text($s);
is_deeply([pool_workers($s, 'lim')], [$worker], 'the same worker runs');
is(ask('lim'), 'files=2000/2000', '... and serves');
unlike(log_text($s), qr/crash|exited with|failed at rlimit_files/i,
       'no worker failed to start') or diag log_text($s);

is(stop_spawner($s), 0, 'graceful stop');
undef $s;
done_testing();

sub ask {
    my ($pool) = @_;
    my $r = fcgi_request("$dir/run/$pool.sock", "$dir/www/lim.php", timeout => 5);
    return $r->{ok} ? ($r->{body} =~ s/\s+\z//r) : "ERROR $r->{error}";
}
