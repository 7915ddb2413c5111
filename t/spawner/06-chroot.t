#!/usr/bin/perl
# A chroot pool serving a script with php-cgi, directly and through httpd
# (VhostFcgiPool: the paths httpd sends are inside the jail, and a script
# outside it is refused).
#
# The jail holds php-cgi and exactly the libraries `ldd` lists, hard-linked
# (copied when /tmp is another file system) - no /etc, no php.ini, no
# extensions: enough for a script that shows it runs inside the jail.  The
# command path is looked up inside the chroot (chroot happens before
# execve), and so is the script.  A chroot that does not exist is an exec
# failure: logged with the path and errno, throttled, never spun.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../soak/lib";
use Test::More;
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Basename qw(dirname);
use Time::HiRes qw(sleep);
use VFSpawn;
require VFSoak;

skip_unless_ready();
my $php = '/usr/bin/php-cgi8.2';
plan skip_all => "$php missing" unless -x $php;

ensure_user('vf-alice');
VFSoak::ensure_user($VFSoak::WEB);
my ($ua, $ga) = (uid_of('vf-alice'), gid_of('vf-alice'));
my $dir = test_dir();
my $jail = "$dir/jail";

sub put {
    my ($src) = @_;
    my $dst = "$jail$src";
    make_path(dirname($dst));
    my $real = readlink($src) ? Cwd::abs_path($src) : $src;
    link($real, $dst) or copy($real, $dst) or die "$src: $!";
    chmod 0755, $dst;
}
put($php);
put($_) for map { m{(/\S+)} ? $1 : () } grep { /\// } `ldd $php`;
make_path("$jail/www");
write_file("$jail/marker", "inside the jail\n");
write_file("$jail/www/where.php", <<'PHP');
<?php
echo "cwd=", getcwd(), "\n";
echo "marker=", trim(file_get_contents('/marker')), "\n";
echo "etc_passwd=", file_exists('/etc/passwd') ? 'visible' : 'absent', "\n";
echo "outside=", file_exists($_GET['outside']) ? 'visible' : 'absent', "\n";
echo "myuid=", getmyuid(), " pid=", getmypid(), "\n";
PHP
system('chmod', '-R', 'a+rX', $jail);
write_file("$dir/outside.txt", "outside\n");

my $conf = write_file("$dir/pools.conf", <<EOC);
[global]
run_dir = $dir/run

[jail]
command = $php
user = vf-alice
chroot = $jail
chdir = /www
pm = ondemand
listen.owner = $VFSoak::WEB
listen.group = $VFSoak::WEB
listen.mode = 0660
env[VF_TEST_POOL] = \$pool

[nojail]
command = $php
user = vf-alice
chroot = $dir/does-not-exist
pm = static
pm.max_children = 2
env[VF_TEST_POOL] = \$pool
EOC

my $s = start_spawner(conf => $conf, dir => $dir);
ok($s->{ready}, 'spawner up') or BAIL_OUT(log_text($s));

my $r = fcgi_request("$dir/run/jail.sock", '/www/where.php',
                     query => "outside=$dir/outside.txt");
ok($r->{ok}, 'the chroot pool answers') or diag $r->{error}, log_text($s);
like($r->{body}, qr/^marker=inside the jail$/m, 'the script reads /marker of the jail');
like($r->{body}, qr/^etc_passwd=absent$/m, "the host's /etc is not visible");
like($r->{body}, qr/^outside=absent$/m, 'files outside the jail are not visible');
like($r->{body}, qr/^cwd=\/www$/m, 'chdir is inside the jail');
my ($pid) = pool_workers($s, 'jail');
ok($pid, "worker $pid runs");
is(readlink("/proc/$pid/root"), $jail, '/proc/PID/root is the jail');
open my $fh, '<', "/proc/$pid/status";
my ($uid) = do { local $/; <$fh> } =~ /^Uid:\s+(\d+)/m;
is($uid, $ua, 'and it runs as vf-alice');

# The broken pool: exec failures are logged with the reason, then paced.
ok(wait_for(sub { log_text($s) =~ /crash loop/ }, 5), 'missing chroot: crash loop detected');
my $log = log_text($s);
like($log, qr/ERROR: \[pool nojail\] cannot start a worker: chroot \Q$dir\E\/does-not-exist: No such file or directory/,
     'the failure names the step, the path and errno');
my @fails = $log =~ /\[pool nojail\] cannot start a worker/g;
is(scalar @fails, 1, 'logged once, not once per attempt');
sleep 1.5;
my $row = status_row(scalar spawner_status($conf), 'nojail');
is($row->{state}, 'throttled', '-s shows the pool throttled')
    or diag scalar spawner_status($conf);
ok($row->{spawned} == 0, 'no worker ever started');
# Through httpd: the vhost's DocumentRoot is the jail's /www.
{
    mkdir "$dir/out";
    write_file("$dir/out/x.php", "<?php echo 'OUTSIDE-', 'RAN';\n");
    system('chmod', '-R', 'a+rX', "$dir/out");
    my $h = VFSoak::httpd_start(
        dir => $dir, bins => VFSoak::snapshot_bins($dir),
        extra => "VhostFcgiPoolsFile $conf\n",
        vhosts => [ { name => 'jail.test', root => "$jail/www", pool => 'jail' },
                    { name => 'out.test', root => "$dir/out", pool => 'jail' } ]);
    my $c = VFSoak::Client->new(port => $h->{port}, timeout => 20);
    my $res = $c->request(host => 'jail.test', path => '/where.php');
    is($res->{status}, 200, 'httpd: the chroot pool runs /where.php')
        or diag $res->{body}, VFSoak::read_file($h->{errlog});
    like($res->{body} // '', qr/^marker=inside the jail$/m,
         'httpd: SCRIPT_FILENAME is the path inside the jail');
    my $mark = VFSoak::log_size($h->{errlog});
    $res = $c->request(host => 'out.test', path => '/x.php');
    is($res->{status}, 404, 'httpd: a script outside the jail: 404');
    unlike($res->{body} // '', qr/OUTSIDE-RAN/, '... not run');
    like(VFSoak::log_since($h->{errlog}, $mark), qr/AH10725: .*outside the chroot/,
         '... and the error log says why');
    $c->close;
    VFSoak::httpd_stop($h);
}

is(stop_spawner($s), 0, 'graceful stop');
# php-cgi in the jail warns about the time zone database it cannot find;
# it writes that to stdout when it exits.
like(log_text($s), qr/\[pool jail\] worker \d+ said: /,
     "php-cgi's own messages are logged (catch_workers_output)");
done_testing();
